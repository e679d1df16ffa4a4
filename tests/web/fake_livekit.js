// A stand-in for livekit-client's UMD build, for driving the join page through a call
// without a LiveKit server. It defines the same global and the parts of the API the page
// uses, "connects" at once, shows a drawn avatar as the remote video, and records what
// the page did in globalThis.__fakeLivekit.
(() => {
  const RoomEvent = {
    TrackSubscribed: "trackSubscribed",
    TrackUnsubscribed: "trackUnsubscribed",
    AudioPlaybackStatusChanged: "audioPlaybackChanged",
    Reconnecting: "reconnecting",
    Reconnected: "reconnected",
    ParticipantDisconnected: "participantDisconnected",
    Disconnected: "disconnected",
  };
  const Track = { Kind: { Audio: "audio", Video: "video" }, Source: { Microphone: "microphone" } };
  const record = { connects: [], data: [], tracks: [], disconnects: 0, room: null };

  function drawnAvatar() {
    const canvas = document.createElement("canvas");
    canvas.width = 640;
    canvas.height = 360;
    const ctx = canvas.getContext("2d");
    const draw = (t) => {
      const sky = ctx.createLinearGradient(0, 0, 0, 360);
      sky.addColorStop(0, "#3b2f7a");
      sky.addColorStop(1, "#0f4c5c");
      ctx.fillStyle = sky;
      ctx.fillRect(0, 0, 640, 360);
      ctx.fillStyle = "#e9c9a8";
      ctx.beginPath();
      ctx.ellipse(320, 150 + Math.sin(t / 400) * 3, 62, 76, 0, 0, Math.PI * 2);
      ctx.fill();
      ctx.fillStyle = "#2b2d42";
      ctx.beginPath();
      ctx.ellipse(320, 400, 170, 150, 0, Math.PI, 0);
      ctx.fill();
      requestAnimationFrame(draw);
    };
    requestAnimationFrame(draw);
    const stream = canvas.captureStream(15);
    return {
      kind: Track.Kind.Video,
      attach(element) {
        element.srcObject = stream;
        element.play().catch(() => {});
        return element;
      },
      detach() {
        return [];
      },
    };
  }

  class Room {
    constructor() {
      this.handlers = new Map();
      this.remoteParticipants = new Map();
      this.canPlaybackAudio = true;
      this.localParticipant = {
        publishTrack: async (track, options) => {
          record.tracks.push({ kind: track.kind, source: options?.source });
          return {
            isMuted: false,
            async mute() {
              this.isMuted = true;
            },
            async unmute() {
              this.isMuted = false;
            },
          };
        },
        publishData: async (data, options) => {
          record.data.push({ text: new TextDecoder().decode(data), reliable: !!options?.reliable });
        },
      };
      record.room = this;
    }
    on(event, handler) {
      if (!this.handlers.has(event)) this.handlers.set(event, []);
      this.handlers.get(event).push(handler);
      return this;
    }
    emit(event, ...args) {
      for (const handler of this.handlers.get(event) ?? []) handler(...args);
    }
    async connect(url, token) {
      record.connects.push({ url, token });
      const track = drawnAvatar();
      const publication = { kind: Track.Kind.Video, track };
      const avatar = { identity: "avatar", trackPublications: new Map([["video", publication]]) };
      this.remoteParticipants.set("avatar", avatar);
      setTimeout(() => this.emit(RoomEvent.TrackSubscribed, track, publication, avatar), 100);
    }
    async disconnect() {
      record.disconnects += 1;
      this.emit(RoomEvent.Disconnected, 1);
    }
    async startAudio() {}
    // For tests: the server closes the room (as Runway does when a session ends).
    serverCloses() {
      this.emit(RoomEvent.Disconnected, 5);
    }
    // For tests: the network drops (LiveKit gave up reconnecting; the call goes on).
    connectionDrops() {
      this.emit(RoomEvent.Disconnected, 9);
    }
  }

  globalThis.LivekitClient = { Room, RoomEvent, Track, isBrowserSupported: () => true };
  globalThis.__fakeLivekit = record;
})();

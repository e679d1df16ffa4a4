// The join page: microphone first, then one-time credentials, then the LiveKit room.
//
// The microphone is asked for before the credentials so that a blocked microphone never
// uses up the link. Credentials come from a same-origin POST that only this script can
// send (it carries the X-Join header), and the server hands them out once, to this
// browser: the first POST carries a secret kept in localStorage, so a reload during
// warm-up or after a dropped connection can rejoin the same call, and no other browser can.
// livekit-client is the UMD build the bot serves; it defines globalThis.LivekitClient.

const RUNWAY_CAP_SECONDS = 300; // Runway ends calls at about this, whatever limit was asked.
const WARNING_SECONDS = 30;
const END_CALL = new TextEncoder().encode(JSON.stringify({ type: "END_CALL" }));

const app = document.getElementById("app");
const byId = (id) => document.getElementById(id);
const ui = {
  title: byId("title"),
  status: byId("status"),
  spinner: byId("spinner"),
  hint: byId("hint"),
  facts: byId("facts"),
  stage: byId("stage"),
  video: byId("avatar-video"),
  timer: byId("timer"),
  warning: byId("warning"),
  audioSink: byId("audio-sink"),
  actions: byId("actions"),
  buttons: {
    join: byId("join"),
    retry: byId("retry"),
    rejoin: byId("rejoin"),
    sound: byId("sound"),
    mute: byId("mute"),
    end: byId("end"),
  },
};
const config = {
  avatarName: app.dataset.avatarName,
  maxSeconds: Number(app.dataset.maxSeconds),
  credentialsUrl: app.dataset.credentialsUrl,
  endedUrl: app.dataset.endedUrl,
  inUse: app.dataset.inUse === "true",
};
const SECRET_KEY = `join-secret:${location.pathname}`;
// LiveKit's DisconnectReason values after which the call itself is over; any other reason
// is a dropped connection, and the call goes on at Runway: the member can rejoin it.
const CALL_OVER = new Set([1, 4, 5, 10]); // client initiated, removed, room deleted, closed
const DUPLICATE_IDENTITY = 2;
const WARMING_POLLS = 90; // a rejoin waits this many seconds for the first request at most
const LK = globalThis.LivekitClient;
const AGAIN = "To talk again, run /session start in Discord; the bot will send you a new link.";

const call = {
  micTrack: null, // MediaStreamTrack from getUserMedia
  publication: null, // LocalTrackPublication of the microphone
  credentials: null,
  room: null,
  deadline: 0, // performance.now() at which the time limit is reached
  connectedAt: 0,
  clock: 0,
  warned: false,
  finished: false, // the call is over; nothing may restart it
  reported: false,
  retry: null,
  started: false, // the first state is shown without moving focus
};

const name = config.avatarName;
const STATES = {
  ready: {
    title: `Talk to ${name}`,
    status: `Press Join call when you're ready. ${name} is warmed up for you, which can take up to 30 seconds.`,
    buttons: ["join"],
    facts: true,
  },
  mic: {
    title: "Allow your microphone",
    status: "Your browser is asking to use your microphone. Choose Allow to continue.",
    busy: true,
    facts: true,
  },
  "mic-denied": {
    title: "Microphone blocked",
    status:
      "The call needs your microphone and the browser refused it. Allow the microphone for this site (usually from the icon next to the address), then press Try again.",
    hint: "Your link has not been used; it still works.",
    buttons: ["retry"],
    tone: "error",
  },
  "mic-missing": {
    title: "No microphone found",
    status: "Connect a microphone or a headset, then press Try again.",
    hint: "Your link has not been used; it still works.",
    buttons: ["retry"],
    tone: "error",
  },
  "mic-busy": {
    title: "Microphone unavailable",
    status: "Another app seems to be using your microphone. Close it, then press Try again.",
    hint: "Your link has not been used; it still works.",
    buttons: ["retry"],
    tone: "error",
  },
  warming: {
    title: `Warming up ${name}…`,
    status: `Getting ${name} ready. This can take up to 30 seconds; please keep this page open.`,
    busy: true,
  },
  connecting: { title: "Connecting…", status: "Joining the call.", busy: true },
  waiting: {
    title: `Waiting for ${name}`,
    status: `Connected. ${name} will appear in a moment.`,
    stage: true,
    buttons: ["mute", "end"],
  },
  call: {
    title: `In a call with ${name}`,
    status: "You're live. Speak naturally, and press End call when you're done.",
    stage: true,
    buttons: ["mute", "end"],
  },
  reconnecting: {
    title: "Reconnecting…",
    status: "The connection dropped; trying to get it back.",
    stage: true,
    busy: true,
    buttons: ["mute", "end"],
  },
  failed: {
    title: "Couldn't connect to the call",
    status:
      "The call server could not be reached. The call is still running: check your connection, then press Try again (or End call to stop it).",
    buttons: ["retry", "end"],
    tone: "error",
  },
  dropped: {
    title: "The connection dropped",
    status: "The call is still running: press Rejoin to get back in (or End call to stop it).",
    buttons: ["rejoin", "end"],
    tone: "error",
  },
  rejoin: {
    title: `Your call with ${name} is still running`,
    status: "You joined it from this browser. Press Rejoin to get back in.",
    buttons: ["rejoin"],
  },
  "used-elsewhere": {
    title: "This link was already used",
    status:
      "It was used in another browser, so it can't be used here. If that was you and the call is lost: run /session end in Discord, then /session start for a new link.",
    tone: "error",
  },
  "joined-elsewhere": {
    title: "You joined from somewhere else",
    status: "This call was opened in another tab or window, so this page left it. Press Rejoin to bring it back here.",
    buttons: ["rejoin"],
  },
  ended: { title: "Call ended", hint: AGAIN },
  refused: { hint: AGAIN, tone: "error" },
  error: { title: "Something went wrong", buttons: ["retry"], tone: "error" },
  insecure: {
    title: "This page can't use your microphone",
    status:
      "Browsers only allow the microphone on secure (https) pages. Ask the bot's admin to serve join links over https.",
    tone: "error",
  },
  "no-library": {
    title: "The call could not load",
    status: "Part of this page did not load. Reload it; if this keeps happening, tell the bot's admin.",
    tone: "error",
  },
  unsupported: {
    title: "This browser can't join the call",
    status: "Open the link in a current version of Chrome, Edge, Firefox or Safari.",
    tone: "error",
  },
};

/** Show one state. `overrides` carries the texts that depend on what happened. */
function show(state, overrides = {}) {
  const spec = { hint: "", tone: "info", buttons: [], ...STATES[state], ...overrides };
  app.dataset.state = state;
  app.dataset.tone = spec.tone;
  ui.title.textContent = spec.title;
  ui.status.textContent = spec.status ?? "";
  ui.hint.textContent = spec.hint;
  ui.hint.hidden = !spec.hint;
  ui.spinner.hidden = !spec.busy;
  ui.facts.hidden = !spec.facts;
  ui.stage.hidden = !spec.stage;
  ui.warning.hidden = !spec.stage || !call.warned;
  ui.actions.hidden = spec.buttons.length === 0;
  for (const [key, button] of Object.entries(ui.buttons)) {
    if (key !== "sound") button.hidden = !spec.buttons.includes(key);
  }
  if (!spec.stage) ui.buttons.sound.hidden = true;
  keepFocus(spec.buttons);
}

/** Keyboard users must not lose their place when the button they were on disappears:
 * focus moves to the state's first button, or rests on the title while there is none. */
function keepFocus(buttons) {
  if (!call.started) return;
  const active = document.activeElement;
  const parked = !active || active === document.body || active === ui.title;
  if (!parked && !active.closest("[hidden]")) return;
  const next = buttons.map((key) => ui.buttons[key]).find((button) => !button.hidden);
  (next ?? ui.title).focus();
}

async function join() {
  if (call.finished) return;
  show("mic");
  try {
    const stream = await navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true },
      video: false,
    });
    call.micTrack = stream.getAudioTracks()[0];
  } catch (error) {
    call.retry = join;
    show(micFailure(error));
    return;
  }
  await fetchCredentials();
}

/** Back into the same call: with the credentials still in memory after a drop, else (after
 * a reload) by asking the bot again with this browser's secret. */
async function rejoin() {
  if (call.finished) return;
  if (call.credentials && call.micTrack) {
    await connect();
    return;
  }
  await join();
}

function storedSecret() {
  try {
    return localStorage.getItem(SECRET_KEY);
  } catch {
    return null;
  }
}

function micFailure(error) {
  switch (error?.name) {
    case "NotAllowedError":
    case "SecurityError":
      return "mic-denied";
    case "NotFoundError":
    case "OverconstrainedError":
      return "mic-missing";
    default:
      return "mic-busy";
  }
}

/** This browser's secret for this link, made (and kept) before the first request, so a
 * reload at any moment afterwards still has it. */
function browserSecret() {
  try {
    let secret = localStorage.getItem(SECRET_KEY);
    if (!secret) {
      const bytes = crypto.getRandomValues(new Uint8Array(32));
      secret = btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
      localStorage.setItem(SECRET_KEY, secret);
    }
    return secret;
  } catch {
    return null; // storage blocked: the call works, a reload cannot rejoin it
  }
}

function forgetSecret() {
  try {
    localStorage.removeItem(SECRET_KEY);
  } catch {
    // nothing stored
  }
}

async function fetchCredentials() {
  show("warming");
  let response;
  let body = null;
  let waited = 0;
  try {
    for (;;) {
      response = await fetch(config.credentialsUrl, {
        method: "POST",
        headers: { "X-Join": "1", "Content-Type": "application/json" },
        body: JSON.stringify({ secret: browserSecret() }),
        credentials: "same-origin",
        cache: "no-store",
      });
      body = await response.json().catch(() => null);
      if (response.status !== 202 || ++waited > WARMING_POLLS) break;
      await new Promise((resolve) => setTimeout(resolve, 1000)); // still warming up
    }
  } catch {
    stopMicrophone();
    call.retry = join;
    show("error", { status: "The bot could not be reached. Check your connection, then press Try again." });
    return;
  }
  if (response.ok && body?.token) {
    call.credentials = body;
    startClock(body);
    await connect();
    return;
  }
  stopMicrophone();
  const message = body?.message ?? "The bot could not start the call.";
  if (response.status === 202) {
    show("error", {
      status:
        "The call is taking too long to get ready. Run /session end in Discord, then /session start for a new link.",
      buttons: [],
    });
    return;
  }
  if (body?.state === "rate_limited" || response.status >= 500 || !body?.state) {
    call.retry = join;
    show("error", { status: message });
    return;
  }
  if (body?.state === "used_elsewhere") {
    show("used-elsewhere");
    return;
  }
  forgetSecret();
  const titles = {
    invalid: "This link can't be used",
    expired: "This link has expired",
    ended: "This session has ended",
    failed: "The call could not start",
  };
  show("refused", { title: titles[body.state] ?? "This link can't be used", status: message });
}

async function connect() {
  if (call.finished) return;
  show("connecting");
  const room = new LK.Room({ adaptiveStream: true, dynacast: true });
  call.room = room;
  watch(room);
  try {
    await room.connect(call.credentials.url, call.credentials.token);
  } catch (error) {
    if (call.finished || call.room !== room) return;
    console.warn("connect failed", error);
    call.room = null;
    call.retry = connect;
    show("failed");
    return;
  }
  call.connectedAt = performance.now();
  show(hasAvatarVideo(room) ? "call" : "waiting");
  try {
    call.publication = await room.localParticipant.publishTrack(call.micTrack, {
      source: LK.Track.Source.Microphone,
      name: "microphone",
    });
  } catch (error) {
    console.warn("publishing the microphone failed", error);
    ui.status.textContent = `${name} can't hear you: your microphone could not be sent. Try ending the call and joining again.`;
  }
  room.startAudio().catch(() => {});
  ui.buttons.sound.hidden = room.canPlaybackAudio;
}

function hasAvatarVideo(room) {
  for (const participant of room.remoteParticipants.values()) {
    for (const publication of participant.trackPublications.values()) {
      if (publication.kind === LK.Track.Kind.Video && publication.track) return true;
    }
  }
  return false;
}

/** Size the stage to the avatar's video, so neither a portrait nor a landscape avatar is
 * letterboxed (CSSOM writes are allowed by the style-src CSP; style attributes are not). */
function fitStage() {
  const { videoWidth: width, videoHeight: height } = ui.video;
  if (width && height) ui.stage.style.setProperty("--ratio", String(width / height));
}

function watch(room) {
  const E = LK.RoomEvent;
  room
    .on(E.TrackSubscribed, (track) => {
      if (call.room !== room) return; // a late event of a connection already dropped
      if (track.kind === LK.Track.Kind.Video) {
        track.attach(ui.video);
        if (!call.finished) show("call");
      } else if (track.kind === LK.Track.Kind.Audio) {
        ui.audioSink.append(track.attach());
      }
    })
    .on(E.TrackUnsubscribed, (track) => {
      for (const element of track.detach()) {
        if (element !== ui.video) element.remove();
      }
    })
    .on(E.AudioPlaybackStatusChanged, () => {
      ui.buttons.sound.hidden = room.canPlaybackAudio || ui.stage.hidden;
    })
    .on(E.Reconnecting, () => {
      if (!call.finished && call.room === room) show("reconnecting");
    })
    .on(E.Reconnected, () => {
      if (!call.finished && call.room === room) show(hasAvatarVideo(room) ? "call" : "waiting");
    })
    .on(E.ParticipantDisconnected, () => {
      // The avatar is the only other participant; when it leaves, the session is over.
      if (room.remoteParticipants.size === 0) void endCall(endReason());
    })
    .on(E.Disconnected, (reason) => {
      if (call.room !== room || !call.connectedAt || call.finished) return;
      if (CALL_OVER.has(reason)) {
        finish(endReason());
        return;
      }
      call.room = null;
      call.retry = connect;
      show(reason === DUPLICATE_IDENTITY ? "joined-elsewhere" : "dropped");
    });
}

/** Why a call that we did not end ourselves ended: its time ran out, or the line dropped. */
function endReason() {
  const left = (call.deadline - performance.now()) / 1000;
  const connected = (performance.now() - call.connectedAt) / 1000;
  return left <= 15 || connected >= RUNWAY_CAP_SECONDS - 10 ? "time_limit" : "disconnected";
}

/** End the call from this side: tell the avatar, leave the room, tell the bot. */
async function endCall(reason) {
  if (call.finished) return;
  const room = call.room;
  finish(reason);
  if (!room) return;
  try {
    await Promise.race([
      room.localParticipant.publishData(END_CALL, { reliable: true }),
      new Promise((resolve) => setTimeout(resolve, 1500)),
    ]);
  } catch (error) {
    console.warn("END_CALL could not be sent", error);
  }
  await room.disconnect();
}

function finish(reason) {
  if (call.finished) return;
  call.finished = true;
  forgetSecret();
  clearInterval(call.clock);
  stopMicrophone();
  report(reason);
  show("ended", { status: endedMessage(reason) });
}

function endedMessage(reason) {
  if (reason === "member_ended") return "You ended the call.";
  if (reason === "time_limit") {
    // Ended as timed out while our own countdown still ran: that was Runway's cap.
    const left = (call.deadline - performance.now()) / 1000;
    if (config.maxSeconds > RUNWAY_CAP_SECONDS && left > 15) {
      return "Time's up: Runway ends calls at about 5 minutes, even when a longer limit was asked.";
    }
    return `Time's up: the call reached its ${formatLimit(config.maxSeconds)} time limit.`;
  }
  return "The call was disconnected.";
}

function report(reason) {
  if (call.reported) return;
  call.reported = true;
  // keepalive lets the report go out even when the page is being closed.
  fetch(config.endedUrl, {
    method: "POST",
    headers: { "X-Join": "1", "Content-Type": "application/json" },
    body: JSON.stringify({ reason }),
    credentials: "same-origin",
    keepalive: true,
  }).catch(() => {});
}

function stopMicrophone() {
  call.micTrack?.stop();
  call.micTrack = null;
}

/** Count down to the limit on this device's monotonic clock, offset by the server's now,
 * so a phone whose clock is wrong still shows the right time left. */
function startClock({ endsAt, serverNow }) {
  const secondsLeft = Math.max(0, endsAt - (serverNow ?? Date.now() / 1000));
  call.deadline = performance.now() + secondsLeft * 1000;
  tick();
  call.clock = setInterval(tick, 250);
}

function tick() {
  const left = Math.max(0, Math.ceil((call.deadline - performance.now()) / 1000));
  ui.timer.textContent = `${Math.floor(left / 60)}:${String(left % 60).padStart(2, "0")}`;
  ui.timer.setAttribute("aria-label", `${left} seconds left`);
  if (left <= WARNING_SECONDS && !call.warned) {
    call.warned = true;
    ui.timer.classList.add("timer-warning");
    ui.warning.hidden = false;
  }
  if (left === 0) void endCall("time_limit");
}

function formatLimit(seconds) {
  const minutes = Math.floor(seconds / 60);
  const rest = seconds % 60;
  if (!minutes) return `${rest}-second`;
  return rest ? `${minutes} min ${rest} s` : `${minutes}-minute`;
}

async function toggleMute() {
  const publication = call.publication;
  if (!publication) return;
  const muting = !publication.isMuted;
  await (muting ? publication.mute() : publication.unmute());
  ui.buttons.mute.setAttribute("aria-pressed", String(muting));
  ui.buttons.mute.textContent = muting ? "Unmute microphone" : "Mute microphone";
  ui.status.textContent = muting ? `You're muted; ${name} can't hear you.` : "You're live again.";
}

function start() {
  ui.video.addEventListener("resize", fitStage);
  ui.buttons.join.addEventListener("click", () => void join());
  ui.buttons.retry.addEventListener("click", () => void call.retry?.());
  ui.buttons.rejoin.addEventListener("click", () => void rejoin());
  ui.buttons.mute.addEventListener("click", () => void toggleMute());
  ui.buttons.end.addEventListener("click", () => void endCall("member_ended"));
  ui.buttons.sound.addEventListener("click", () => {
    call.room?.startAudio().then(() => (ui.buttons.sound.hidden = true), () => {});
  });
  // Closing the tab mid-call would leave Runway billing until the limit: end it instead.
  window.addEventListener("pagehide", () => {
    if (call.room && !call.finished) void endCall("member_ended");
  });

  if (!window.isSecureContext || !navigator.mediaDevices?.getUserMedia) {
    show("insecure");
  } else if (!LK) {
    show("no-library");
  } else if (!LK.isBrowserSupported()) {
    show("unsupported");
  } else if (config.inUse) {
    show(storedSecret() ? "rejoin" : "used-elsewhere");
  } else {
    show("ready");
  }
  call.started = true;
  app.dataset.ready = "true";
}

start();

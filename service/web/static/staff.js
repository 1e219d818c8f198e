// The staff page: wait for the supervisor's call, answer it, and while it lasts send
// the server a low-rate copy of the camera (the analysis leg), the location once,
// and whether the page is visible and the camera track live.
import { $, PeerLeg, Signal, errorText, page, showError, showStatus, t, wireRecordForms } from "./hadir.js";
import { closeRingNotifications, setupPush } from "./push.js";

// The analysis leg is capped in the browser: the server decodes every frame it gets.
const ANALYSIS = { width: 640, height: 480, fps: 5, bitrate: 300_000 };
const GUIDES = {
  no_face: "guide.center", face_not_found: "guide.center", face_too_small: "guide.center", multiple_faces: "guide.one_face",
  low_light: "guide.light", camera_black: "guide.light", camera_covered: "guide.camera",
  camera_frozen: "guide.camera", no_frames: "guide.camera", page_hidden: "guide.camera",
  muted: "guide.camera", ended: "guide.camera", torso_not_visible: "guide.uniform",
  wrong_uniform_colour: "guide.uniform", not_uniform_colour: "guide.uniform",
  pattern_uncertain: "guide.uniform",
};
const DARK_LUMA = 45;

const local = $('[data-video="local"]');
const remote = $('[data-video="remote"]');
const stage = $(".stage");
const stateBox = $("[data-call-state]");
const incoming = $("[data-incoming]");
const guide = $("[data-guide]");
const enableButton = $('[data-action="enable-camera"]');
const hangupButton = $('[data-action="hangup"]');
let iceServers = [];
let stream = null;
let call = null;
let leg = null;
let analysis = null;
let ringing = null;
let opening = null;
let early = []; // p2p messages that came before the leg (a camera still opening)

function setState(key, text) {
  if (key === "active") $("[data-live]").hidden = false;
  stateBox.dataset.callState = key;
  stateBox.textContent = text ?? t(`call.${key}`);
  stage.classList.toggle("in-call", key === "active");
  hangupButton.hidden = key !== "active" && key !== "ringing" && key !== "reconnecting";
}

// One getUserMedia at a time: the permission check, the button and Answer may all ask.
function openCamera() {
  opening ??= askCamera().catch((error) => {
    opening = null;
    throw error;
  });
  return opening;
}

async function askCamera() {
  try {
    stream = await navigator.mediaDevices.getUserMedia({
      video: { facingMode: "user", width: { ideal: 640 }, height: { ideal: 480 } },
      audio: true,
    });
  } catch {
    showError(t("camera_denied"));
    throw new Error("camera");
  }
  local.srcObject = stream;
  enableButton.hidden = true;
  $("details.why").open = false;
  const [track] = stream.getVideoTracks();
  for (const [event, state] of [["mute", "muted"], ["unmute", "live"], ["ended", "ended"]]) {
    track.addEventListener(event, () => call && signal.send({ type: "track", call, state }));
  }
  watchLight();
  return stream;
}

// Before a call the page can only judge the light itself: a 32×24 thumbnail a second.
function watchLight() {
  const canvas = document.createElement("canvas");
  canvas.width = 32;
  canvas.height = 24;
  const context = canvas.getContext("2d", { willReadFrequently: true });
  setInterval(() => {
    if (call || local.readyState < 2) return;
    context.drawImage(local, 0, 0, 32, 24);
    const { data } = context.getImageData(0, 0, 32, 24);
    let sum = 0;
    for (let i = 0; i < data.length; i += 4) sum += 0.299 * data[i] + 0.587 * data[i + 1] + 0.114 * data[i + 2];
    guide.textContent = sum / (data.length / 4) < DARK_LUMA ? t("guide.light") : t("guide.center");
  }, 1000);
}

function ring(on, caller) {
  incoming.hidden = !on;
  if (caller) $("[data-caller]", incoming).textContent = caller;
  clearInterval(ringing);
  ringing = null;
  if (!on) {
    closeRingNotifications().catch(() => {});
    return;
  }
  const beep = () => {
    navigator.vibrate?.([400, 200, 400]);
    try {
      const audio = new AudioContext();
      const tone = audio.createOscillator();
      tone.frequency.value = 660;
      tone.connect(audio.destination);
      tone.start();
      tone.stop(audio.currentTime + 0.4);
      tone.onended = () => audio.close();
    } catch {
      // no sound before the person has touched the page: the banner still shows
    }
  };
  beep();
  ringing = setInterval(beep, 2000);
}

function gathered(pc, limitMs) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => pc.iceGatheringState === "complete" && resolve();
    pc.addEventListener("icegatheringstatechange", done);
    setTimeout(resolve, limitMs);
  });
}

// A clone of the camera, capped, on a send-only connection to the server's peer. The
// server does not trickle, so the offer goes once gathering is complete.
async function startAnalysis(callId) {
  const clone = stream.getVideoTracks()[0].clone();
  await clone.applyConstraints({
    width: { max: ANALYSIS.width }, height: { max: ANALYSIS.height }, frameRate: { max: ANALYSIS.fps },
  }).catch(() => {});
  const pc = new RTCPeerConnection({ iceServers });
  const { sender } = pc.addTransceiver(clone, { direction: "sendonly" });
  const { width = ANALYSIS.width, height = ANALYSIS.height } = clone.getSettings();
  const params = sender.getParameters();
  params.encodings = [{
    ...(params.encodings?.[0] ?? {}),
    maxFramerate: ANALYSIS.fps,
    maxBitrate: ANALYSIS.bitrate,
    scaleResolutionDownBy: Math.max(1, width / ANALYSIS.width, height / ANALYSIS.height),
  }];
  await sender.setParameters(params).catch(() => {});
  await pc.setLocalDescription(await pc.createOffer());
  await gathered(pc, 3000);
  analysis = { pc, clone };
  signal.send({ type: "sdp", call: callId, leg: "server", kind: "offer", sdp: pc.localDescription.sdp });
}

function sendLocation(callId) {
  if (!navigator.geolocation) {
    signal.send({ type: "location", call: callId, error: "unsupported" });
    return;
  }
  navigator.geolocation.getCurrentPosition(
    ({ coords }) => signal.send({
      type: "location", call: callId, lat: coords.latitude, lon: coords.longitude, accuracy: coords.accuracy,
    }),
    (error) => signal.send({
      type: "location", call: callId, error: { 1: "denied", 3: "timeout" }[error.code] ?? "unavailable",
    }),
    { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 },
  );
}

function p2p(msg) {
  if (leg) leg.receive(msg);
  else if (call === msg.call) early.push(msg);
}

function endCall() {
  early = [];
  leg?.close();
  analysis?.pc.close();
  analysis?.clone.stop();
  leg = analysis = null;
  remote.srcObject = null;
  remote.hidden = true;
}

function guideFrom(msg) {
  for (const name of ["camera", "face", "uniform"]) {
    const key = GUIDES[msg.indicators?.[name]?.reason];
    if (key && msg.indicators[name].state !== "pass") return t(key);
  }
  return t("guide.ok");
}

// A tapped ring notification opens this page at #answer=<call> (or tells it, if open):
// that tap was the answer.
function tappedRing() {
  const wanted = new URLSearchParams(location.hash.slice(1)).get("answer");
  if (wanted) history.replaceState(null, "", location.pathname + location.search);
  return wanted;
}
let tapped = tappedRing();

async function answer() {
  ring(false);
  try {
    await openCamera();
  } catch {
    return;
  }
  signal.send({ type: "accept", call });
}

const signal = new Signal({
  welcome(msg) {
    showError("");
    iceServers = msg.ice_servers;
    if (call && !msg.call) {
      // Back, but the call did not wait (it was still ringing, or the grace ran out).
      call = null;
      ring(false);
      endCall();
      setState("ended", t("ended.disconnected"));
    }
    if (msg.call?.state === "ringing") {
      call = msg.call.call;
      ring(true, msg.call.supervisor ?? "");
      if (tapped === call) answer();
    } else {
      ring(false);
    }
    tapped = null;
  },
  ring(msg) {
    call = msg.call;
    ring(true, msg.supervisor);
    setState("ringing", `${t("incoming_call")} ${msg.supervisor}`);
  },
  async state(msg) {
    if (msg.state === "active") {
      // "reconnected": the same call after this page came back (a reload, another
      // network); the legs are made anew, the location was already sent.
      endCall();
      call = msg.call;
      setState("active", t("call.connecting"));
      if (msg.reason === "reconnected") {
        try {
          await openCamera();
        } catch {
          return;
        }
      }
      leg = new PeerLeg(signal, msg.call, iceServers, stream, (media) => {
        remote.srcObject = media;
        remote.hidden = false;
        setState("active");
      });
      for (const held of early.splice(0)) leg.receive(held);
      if (msg.reason !== "reconnected") sendLocation(msg.call);
      startAnalysis(msg.call);
      if (document.hidden) signal.send({ type: "visibility", call: msg.call, hidden: true });
    } else if (msg.state === "ended") {
      call = null;
      ring(false);
      endCall();
      setState("ended", page.t[`ended.${msg.reason}`] ?? t("call.ended"));
    }
  },
  sdp(msg) {
    if (msg.leg === "server") analysis?.pc.setRemoteDescription({ type: "answer", sdp: msg.sdp });
    else p2p(msg);
  },
  ice: (msg) => msg.leg === "p2p" && p2p(msg),
  status(msg) {
    showStatus(msg);
    guide.textContent = guideFrom(msg);
  },
  ended(msg) {
    showStatus(msg);
    guide.textContent = "";
  },
  error(msg) {
    showError(errorText(msg.code));
  },
  offline() {
    if (call) {
      // The server keeps an answered call a while: the socket comes back by itself.
      endCall();
      setState("reconnecting");
    } else {
      showError(t("e.offline"));
    }
  },
});

document.addEventListener("visibilitychange", () => {
  if (call) signal.send({ type: "visibility", call, hidden: document.hidden });
});
$('[data-action="answer"]').addEventListener("click", answer);
enableButton.addEventListener("click", () => openCamera().catch(() => {}));
hangupButton.addEventListener("click", () => call && signal.send({ type: "hangup", call }));
wireRecordForms(document);
setupPush((message) => {
  if (message?.type === "open" && message.payload?.kind === "ring" && message.payload.call === call && !incoming.hidden) answer();
}).catch(() => {});
// Once the camera was allowed, the preview opens by itself on later visits.
navigator.permissions?.query({ name: "camera" })
  .then((status) => status.state === "granted" && openCamera())
  .catch(() => {});

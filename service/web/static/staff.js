// The staff page: wait for the supervisor's call, answer or decline it, and while it lasts send
// the server a JPEG still of the camera every second (the analysis leg), the location once,
// and whether the page is visible and the camera track live. The camera is open only
// during a call or a self-check the person asked for.
import {
  $, PeerLeg, Signal, apiErrorText, errorText, page, reasonText, showChallenge, showError, showStatus, t,
  wireRecordForms,
} from "./hadir.js";
import { closeRingNotifications, setupPush } from "./push.js";

// The analysis leg: a JPEG still (at most 640×480) every second, the first five every
// half second so that a verdict comes soon (five samples 2 s apart in all: what a
// frozen picture needs to be seen as one); binary frames, docs/protocol.md "Stills".
// During a liveness challenge, four a second until its deadline: the movement is read
// from them (the server allows that rate only while the challenge is open).
const STILLS = {
  side: 640, quality: 0.7, intervalMs: 1000, firstMs: 500, first: 5, backlog: 256 * 1024,
  challengeMs: 250,
};
const GUIDES = {
  no_face: "guide.center", face_not_found: "guide.center", face_unverified: "guide.center", face_too_small: "guide.center", multiple_faces: "guide.one_face",
  low_light: "guide.light", camera_black: "guide.light", camera_covered: "guide.camera",
  camera_frozen: "guide.camera", no_frames: "guide.camera", page_hidden: "guide.camera",
  muted: "guide.camera", ended: "guide.camera", torso_not_visible: "guide.uniform",
  wrong_uniform_colour: "guide.uniform", not_uniform_colour: "guide.uniform",
  pattern_uncertain: "guide.uniform", uniform_covered: "guide.uniform",
};
const CAMERA_SETTLE_MS = 1000; // a camera's exposure settles after it opens

const local = $('[data-video="local"]');
const remote = $('[data-video="remote"]');
const stage = $(".stage");
const stateBox = $("[data-call-state]");
const incoming = $("[data-incoming]");
const guide = $("[data-guide]");
const selfCheckButton = $('[data-action="self-check"]');
const closeButton = $('[data-action="close-camera"]');
const hangupButton = $('[data-action="hangup"]');
const challengeBox = $("[data-challenge]");
let challengeUntil = 0; // performance.now() of the open challenge's deadline
let iceServers = [];
let stream = null;
let call = null;
let leg = null;
let analysis = null;
let ringing = null;
let opening = null;
let preview = null; // the self-check's camera (video only), closed before a call
let cameraOpenedAt = 0; // performance.now() when the call's camera opened
let early = []; // p2p messages that came before the leg (a camera still opening)

// Frames the video element has presented (where the browser counts them): a still is
// taken only of a new frame, so a camera that stalls (a busy phone, a driver's hiccup)
// sends no still, which is no evidence either way, rather than the same picture again,
// which reads as a frozen camera.
const countsFrames = "requestVideoFrameCallback" in local;
let presented = 0;
if (countsFrames) {
  const counted = () => {
    presented += 1;
    local.requestVideoFrameCallback(counted);
  };
  local.requestVideoFrameCallback(counted);
}

function setState(key, text) {
  if (key === "active") $("[data-live]").hidden = false;
  stateBox.dataset.callState = key;
  stateBox.textContent = text ?? t(`call.${key}`);
  stage.classList.toggle("in-call", key === "active");
  stage.classList.toggle("idle", (key === "waiting" || key === "ended") && !preview);
  hangupButton.hidden = key !== "active" && key !== "reconnecting"; // ringing: answer or decline
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
  closePreview();
  local.srcObject = stream;
  cameraOpenedAt = performance.now();
  const [track] = stream.getVideoTracks();
  for (const [event, state] of [["mute", "muted"], ["unmute", "live"], ["ended", "ended"]]) {
    track.addEventListener(event, () => call && signal.send({ type: "track", call, state }));
  }
  return stream;
}

// After a call the camera closes: it opens again for the next call or self-check.
function closeCamera() {
  for (const track of stream?.getTracks() ?? []) track.stop();
  stream = opening = null;
  local.srcObject = null;
}

function closePreview() {
  for (const track of preview?.getTracks() ?? []) track.stop();
  preview = null;
  closeButton.hidden = true;
  if (!stream) local.srcObject = null;
  if (!call) stage.classList.add("idle");
}

// The camera for a self-check or a face enrolment (video only), opened on demand;
// false when the browser refused it.
async function openPreview() {
  if (preview) return true;
  try {
    preview = await navigator.mediaDevices.getUserMedia({
      video: { facingMode: "user", width: { ideal: 640 }, height: { ideal: 480 } },
    });
  } catch {
    showError(t("camera_denied"));
    return false;
  }
  local.srcObject = preview;
  stage.classList.remove("idle");
  closeButton.hidden = false;
  await new Promise((resolve) => setTimeout(resolve, CAMERA_SETTLE_MS));
  return true;
}

// The self-check: one picture of the camera, judged by the server as a call would be
// (light, face, uniform of the next check), shown with what to fix. Not kept.
async function selfCheck() {
  const note = $("[data-self-check-msg]");
  note.className = "form-msg";
  note.textContent = t("self_check_running");
  selfCheckButton.disabled = true;
  try {
    if (!(await openPreview())) {
      note.textContent = "";
      return;
    }
    const picture = await snapshot(local);
    let response;
    try {
      response = await fetch("/api/v1/me/self-check", {
        method: "POST",
        headers: { Authorization: `Link ${page.token}`, "Content-Type": "image/jpeg" },
        body: picture,
      });
    } catch {
      note.className = "form-msg bad";
      note.textContent = `${t("self_check_failed")}: ${t("api.network")}`;
      return;
    }
    if (!response.ok) {
      const problem = await response.json().catch(() => ({}));
      note.className = "form-msg bad";
      note.dataset.error = problem.error?.code ?? response.status;
      note.textContent = `${t("self_check_failed")}: ${apiErrorText("self_check", problem.error?.code)}`;
      return;
    }
    showSelfCheck(await response.json());
    note.textContent = "";
    selfCheckButton.textContent = t("self_check_again");
  } finally {
    selfCheckButton.disabled = false;
  }
}

// Face enrolment (docs/privacy.md): with the person's consent, three pictures a moment
// apart; the server keeps only their face descriptors, encrypted, never the pictures.
const FACE_STILLS = 3;
const FACE_STILL_GAP_MS = 600;
const faceSection = $('[data-section="face"]');

async function faceRequest(method, body) {
  const headers = { Authorization: `Link ${page.token}` };
  if (body) headers["Content-Type"] = "application/json";
  try {
    return await fetch("/api/v1/me/face", { method, headers, body: body && JSON.stringify(body) });
  } catch {
    return null;
  }
}

async function showFaceResult(note, response, done) {
  if (response?.ok) {
    note.className = "form-msg ok";
    note.textContent = typeof done === "function" ? done(await response.json()) : t(done);
    return true;
  }
  const problem = response ? await response.json().catch(() => ({})) : {};
  note.className = "form-msg bad";
  note.dataset.error = problem.error?.code ?? response?.status ?? "network";
  const text = response ? apiErrorText("face", problem.error?.code) : t("api.network");
  note.textContent = `${t("face.failed")}: ${text}`;
  return false;
}

async function enrolFace() {
  const note = $("[data-face-msg]", faceSection);
  const button = $('[data-action="enrol-face"]', faceSection);
  button.disabled = true;
  note.className = "form-msg";
  delete note.dataset.error; // the last attempt's, if any
  note.textContent = t("face.running");
  try {
    if (!(await openPreview())) {
      note.textContent = "";
      return;
    }
    const images = [];
    for (let i = 0; i < FACE_STILLS; i += 1) {
      if (i) await new Promise((resolve) => setTimeout(resolve, FACE_STILL_GAP_MS));
      images.push(await base64(await snapshot(local)));
    }
    const consent = $("[data-face-consent]", faceSection).checked;
    const response = await faceRequest("PUT", { consent, images });
    if (await showFaceResult(note, response, enrolledText)) {
      $("[data-face-state]", faceSection).dataset.faceState = "enrolled";
      $("[data-face-state]", faceSection).textContent = t("face.done");
      $('[data-action="delete-face"]', faceSection).hidden = false;
      button.textContent = t("face.enrol_again");
    }
  } finally {
    button.disabled = !$("[data-face-consent]", faceSection).checked;
  }
}

// The server leaves out a still without one usable face (a blink, a step back) and says
// so: the person knows the enrolment rests on fewer pictures.
function enrolledText(enrolment) {
  if (!enrolment.skipped?.length) return t("face.done");
  return t("face.done_partial")
    .replace("{used}", enrolment.stills)
    .replace("{taken}", enrolment.stills + enrolment.skipped.length);
}

async function deleteFace() {
  const note = $("[data-face-msg]", faceSection);
  if (await showFaceResult(note, await faceRequest("DELETE"), "face.deleted")) {
    $("[data-face-state]", faceSection).dataset.faceState = "none";
    $("[data-face-state]", faceSection).textContent = t("face.none");
    $('[data-action="delete-face"]', faceSection).hidden = true;
    $('[data-action="enrol-face"]', faceSection).textContent = t("face.enrol");
  }
}

function base64(blob) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result.slice(reader.result.indexOf(",") + 1));
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(blob);
  });
}

function snapshot(video) {
  const canvas = document.createElement("canvas");
  const scale = Math.min(1, 640 / Math.max(video.videoWidth, video.videoHeight));
  canvas.width = Math.round(video.videoWidth * scale);
  canvas.height = Math.round(video.videoHeight * scale);
  canvas.getContext("2d").drawImage(video, 0, 0, canvas.width, canvas.height);
  return new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.85));
}

function showSelfCheck(result) {
  const list = $("[data-self-check]");
  list.hidden = false;
  for (const name of ["light", "face", "uniform"]) {
    const { verdict, reasons } = result[name];
    const item = $(`[data-self-item="${name}"]`, list);
    item.dataset.state = verdict;
    const [reason] = reasons;
    const fix = GUIDES[reason];
    item.querySelector("[data-reason]").textContent = verdict === "pass"
      ? t(`self.ok.${name}`)
      : [reason ? reasonText(reason) : t("self.unsure"), fix && t(fix)].filter(Boolean).join(" — ");
  }
}

// The next check and the records as they now stand (a call's new record, an
// objection): the page's own sections, fetched again.
async function refreshSections() {
  const response = await fetch(location.pathname).catch(() => null);
  if (!response?.ok) return;
  const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
  for (const selector of ["[data-next-check]", "[data-records-list]"]) {
    const section = fresh.querySelector(selector);
    if (section) $(selector).replaceWith(section);
  }
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

// One still of the camera as the page shows it (the local video), at most
// STILLS.side on its long side, behind the header the server reads first: version,
// call id, sequence number and capture time.
function stillFrame(callId, sequence, canvas) {
  const scale = Math.min(1, STILLS.side / Math.max(local.videoWidth, local.videoHeight));
  canvas.width = Math.round(local.videoWidth * scale);
  canvas.height = Math.round(local.videoHeight * scale);
  canvas.getContext("2d").drawImage(local, 0, 0, canvas.width, canvas.height);
  return new Promise((resolve) => canvas.toBlob((jpeg) => {
    const id = new TextEncoder().encode(callId);
    const head = new DataView(new ArrayBuffer(2 + id.length + 12));
    head.setUint8(0, 1);
    head.setUint8(1, id.length);
    new Uint8Array(head.buffer, 2, id.length).set(id);
    head.setUint32(2 + id.length, sequence);
    head.setFloat64(6 + id.length, Date.now());
    resolve(jpeg && new Blob([head, jpeg]));
  }, "image/jpeg", STILLS.quality));
}

// The stills leg of a call: one still every interval while the page is visible and
// the camera plays (hidden, the page says so instead: see "visibility"). The first
// waits until the camera has played a moment: a video element that has just been
// given its stream draws blank, and a camera's first frames are dark while its
// exposure settles; neither is the staff member's camera being off.
function startStills(callId) {
  const canvas = document.createElement("canvas");
  const stills = { timer: null, sequence: 0, presented: -1 };
  // During a challenge, paced from when each still began: four a second whatever
  // drawing and encoding cost on a busy phone (on a loaded machine they took up to
  // 250 ms). Otherwise each waits its interval after the last went, so that the first
  // five span a little over the 2 s a frozen picture needs to be seen as one
  // (`frozen_min_seconds`): paced from their start they spanned 2.0 s, and a frozen
  // camera's fifth sample was sometimes judged live before its sixth was frozen.
  const wait = (began) => {
    if (performance.now() < challengeUntil) {
      return Math.max(0, STILLS.challengeMs - (performance.now() - began));
    }
    return stills.sequence < STILLS.first ? STILLS.firstMs : STILLS.intervalMs;
  };
  const next = async () => {
    stills.timer = null; // a still is being taken
    if (analysis !== stills) return;
    const began = performance.now();
    const settled = performance.now() - cameraOpenedAt >= CAMERA_SETTLE_MS;
    const fresh = !countsFrames || presented !== stills.presented;
    if (!document.hidden && settled && fresh && local.readyState >= local.HAVE_CURRENT_DATA) {
      stills.presented = presented;
      const frame = await stillFrame(callId, stills.sequence, canvas);
      if (frame && analysis === stills && signal.sendBinary(frame, STILLS.backlog)) stills.sequence += 1;
    }
    if (analysis === stills) stills.timer = setTimeout(next, wait(began));
  };
  // A challenge came: the next still now (its first moments are the starting pose),
  // unless one is being taken.
  stills.hurry = () => {
    if (stills.timer === null) return;
    clearTimeout(stills.timer);
    stills.timer = setTimeout(next, 0);
  };
  analysis = stills;
  next();
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

// The liveness challenge: the instruction over the video with its countdown, stills
// four a second until the deadline, then the outcome.
function challenge(msg) {
  if (msg.call !== call) return;
  showChallenge(challengeBox, msg);
  if (msg.type === "challenge") {
    challengeUntil = performance.now() + msg.deadline_s * 1000;
    analysis?.hurry();
  } else {
    challengeUntil = 0;
    // Not done is not failed: a person who cannot do it is never judged by the machine.
    if (msg.outcome === "inconclusive") $("[data-challenge-note]", challengeBox).append(` ${t("challenge.human")}`);
  }
}

function endCall() {
  early = [];
  challengeUntil = 0;
  challengeBox.hidden = true;
  leg?.close();
  clearTimeout(analysis?.timer);
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

// A call ringing now: from `ring`, or from `welcome` when the page opens mid-ring.
function incomingCall(callId, supervisor) {
  call = callId;
  ring(true, supervisor);
  setState("ringing", `${t("incoming_call")} ${supervisor}`);
}

function decline() {
  ring(false);
  if (call) signal.send({ type: "decline", call });
}

async function answer() {
  ring(false);
  closePreview();
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
      // Back, but the call did not wait (it was still ringing, or the grace ran out):
      // its record, if it has one, was written meanwhile.
      call = null;
      ring(false);
      endCall();
      closeCamera();
      setState("ended", t("ended.disconnected"));
      refreshSections();
    }
    if (msg.call?.state === "ringing") {
      incomingCall(msg.call.call, msg.call.supervisor);
      if (tapped === call) answer();
    } else {
      ring(false);
    }
    tapped = null;
  },
  ring(msg) {
    incomingCall(msg.call, msg.supervisor);
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
      startStills(msg.call);
      if (document.hidden) signal.send({ type: "visibility", call: msg.call, hidden: true });
    } else if (msg.state === "ended") {
      call = null;
      ring(false);
      endCall();
      closeCamera();
      setState("ended", page.t[`staff_ended.${msg.reason}`] ?? page.t[`ended.${msg.reason}`] ?? t("call.ended"));
    }
  },
  sdp: p2p,
  ice: (msg) => msg.leg === "p2p" && p2p(msg),
  status(msg) {
    showStatus(msg);
    guide.textContent = guideFrom(msg);
  },
  challenge,
  challenge_result: challenge,
  ended(msg) {
    showStatus(msg);
    guide.textContent = "";
    if (msg.record) refreshSections();
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
$('[data-action="decline"]').addEventListener("click", decline);
selfCheckButton.addEventListener("click", selfCheck);
if (faceSection) {
  const consent = $("[data-face-consent]", faceSection);
  consent.addEventListener("change", () => {
    $('[data-action="enrol-face"]', faceSection).disabled = !consent.checked;
  });
  $('[data-action="enrol-face"]', faceSection).addEventListener("click", enrolFace);
  $('[data-action="delete-face"]', faceSection).addEventListener("click", deleteFace);
}
closeButton.addEventListener("click", closePreview);
hangupButton.addEventListener("click", () => call && signal.send({ type: "hangup", call }));
wireRecordForms(document, refreshSections);
setupPush((message) => {
  if (message?.type === "open" && message.payload?.kind === "ring" && message.payload.call === call && !incoming.hidden) answer();
}).catch(() => {});

// The supervisor's call page: ring the staff member of one check, hold the
// peer-to-peer call, show the live indicators, then confirm or override the verdict.
import {
  $, PeerLeg, Signal, errorText, page, showChallenge, showError, showPresence, showStatus, t,
  wireRecordForms,
} from "./hadir.js";

const remote = $('[data-video="remote"]');
const local = $('[data-video="local"]');
const stateBox = $("[data-call-state]");
const startButton = $('[data-action="start-call"]');
const hangupButton = $('[data-action="hangup"]');
const challengeButton = $('[data-action="challenge"]');
const challengeBox = $("[data-challenge]");
let challengesLeft = null; // the server says how many the call may still have
let challenging = false; // one is under way
let iceServers = [];
let stream = null;
let call = null;
let leg = null;
let recorded = false; // the check has its record: there is nothing left to call for
let reach = null; // the staff member's presence, as the server last said

// Under the staff member's name: whether their page is open, so a ring that goes
// nowhere says why.
const presenceBox = document.createElement("p");
presenceBox.className = "presence";
$(".panel h1").after(presenceBox);

function learn(people) {
  reach = people?.find((person) => person.id === page.staff) ?? reach;
  if (reach) showPresence(presenceBox, reach);
}

function setState(key, text) {
  stateBox.dataset.callState = key;
  stateBox.textContent = text ?? t(`call.${key}`);
  const live = key === "ringing" || key === "active" || key === "reconnecting";
  startButton.hidden = live || recorded;
  hangupButton.hidden = !live;
  challengeButton.hidden = key !== "active";
}

// The liveness challenge: asked for here (one at a time, a few per call), shown with
// its countdown, then its outcome, as the staff page shows it.
function challengeShown(msg) {
  showChallenge(challengeBox, msg);
  challenging = msg.type === "challenge";
  challengesLeft = msg.left;
  challengeButton.disabled = challenging || challengesLeft === 0;
}

async function openCamera() {
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: true });
    local.srcObject = stream;
  } catch {
    stream = null; // the supervisor may watch without a camera of their own
  }
}

function toggle(kind, button) {
  const tracks = stream ? (kind === "audio" ? stream.getAudioTracks() : stream.getVideoTracks()) : [];
  const on = button.getAttribute("aria-pressed") !== "true";
  for (const track of tracks) track.enabled = on;
  button.setAttribute("aria-pressed", String(on));
}

function startCall() {
  showError("");
  $(".after").hidden = true;
  signal.send({ type: "call", check: page.check });
}

function endLeg() {
  leg?.close();
  leg = null;
  remote.srcObject = null;
}

// The call's record with its review form, as the dashboard shows it (from the server).
async function showRecord(msg) {
  const after = $(".after");
  after.hidden = false;
  $("[data-record]").textContent = msg.record ? t("record_saved") : t("no_record");
  const slot = $("[data-review-slot]");
  slot.replaceChildren();
  if (!msg.record) return;
  const url = `/supervisor/${encodeURIComponent(page.token)}/records/${encodeURIComponent(msg.record)}`;
  const response = await fetch(url).catch(() => null);
  if (!response?.ok) {
    showError(t("api.network"));
    return;
  }
  const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
  slot.append(...fresh.body.children);
}

await openCamera();
const signal = new Signal({
  welcome(msg) {
    showError("");
    learn(msg.presence);
    iceServers = msg.ice_servers;
    if (msg.call && msg.call.check === page.check) {
      // A reload during a call: the media is gone with the old page, so end it cleanly.
      signal.send({ type: "hangup", call: msg.call.call });
    } else if (!call) {
      startCall();
    }
  },
  state(msg) {
    call = msg.state === "ended" ? null : msg.call;
    if (msg.state === "ringing") setState("ringing");
    else if (msg.state === "reconnecting") {
      // The staff page went away; the server keeps the call for it to come back.
      endLeg();
      setState("reconnecting");
    } else if (msg.state === "active") {
      endLeg(); // back from reconnecting: a new leg with the staff page's new connection
      setState("active", t("call.connecting"));
      leg = new PeerLeg(signal, msg.call, iceServers, stream, (media) => {
        remote.srcObject = media;
        setState("active");
      });
      leg.offer();
    } else {
      endLeg();
      setState("ended", page.t[`ended.${msg.reason}`] ?? t("call.ended"));
      startButton.textContent = t("call_again");
    }
  },
  sdp: (msg) => msg.leg === "p2p" && leg?.receive(msg),
  ice: (msg) => msg.leg === "p2p" && leg?.receive(msg),
  presence: (msg) => learn(msg.staff),
  status: showStatus,
  challenge: challengeShown,
  challenge_result: challengeShown,
  ended(msg) {
    recorded = Boolean(msg.record);
    startButton.hidden = recorded;
    showStatus(msg);
    showRecord(msg);
  },
  error(msg) {
    showError(errorText(msg.code));
    challengeButton.disabled = challenging || challengesLeft === 0;
  },
  offline() {
    showError(t("e.offline"));
  },
});

startButton.addEventListener("click", startCall);
hangupButton.addEventListener("click", () => call && signal.send({ type: "hangup", call }));
challengeButton.addEventListener("click", () => {
  if (!call || challenging) return;
  showError("");
  challengeButton.disabled = true; // until the server answers: `challenge` or an error
  signal.send({ type: "challenge", call });
});
$('[data-action="mic"]').addEventListener("click", (e) => toggle("audio", e.currentTarget));
$('[data-action="camera"]').addEventListener("click", (e) => toggle("video", e.currentTarget));
wireRecordForms(document);
setInterval(() => learn(null), 30_000); // "last seen 12 minutes ago" kept true

// What every page shares: its data and text, the signaling socket, the peer-to-peer leg,
// the live indicators and the review/objection forms. Protocol: docs/protocol.md.

export const page = JSON.parse(document.getElementById("page-data").textContent);
export const t = (key) => page.t[key] ?? key;
export const reasonText = (code) => page.t[`r.${code}`] ?? code;
export const $ = (selector, root = document) => root.querySelector(selector);

export function showError(text) {
  const box = $("[data-error]");
  if (!box) return;
  box.textContent = text || "";
  box.hidden = !text;
}

// A server error in the page's language: the text of its code, else the generic one.
// The server's own message is English for developers and never shown.
export function errorText(code) {
  return page.t[`e.${code}`] ?? t("e.other");
}

// An error the API answered a form with (`{"error": {"code"}}`): the form's own text
// for the code (`api.objection.conflict`), then the code's, then the generic one.
export function apiErrorText(verb, code) {
  return page.t[`api.${verb}.${code}`] ?? page.t[`api.${code}`] ?? t("e.other");
}

// A live indicator's reason: while pending, what is under way ("Collecting frames…").
const indicatorText = ({ state, reason }) =>
  (state === "pending" ? page.t[`pending.${reason}`] : undefined) ?? reasonText(reason);

// One WebSocket per page. It joins with the link token and reconnects after a drop,
// except when the server refused the token (close code 4401).
export class Signal {
  constructor(handlers) {
    this.handlers = handlers;
    this.connect();
  }

  connect() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    this.ws = new WebSocket(`${scheme}//${location.host}/ws`);
    this.ws.onopen = () => this.send({ type: "join", v: 1, token: page.token });
    this.ws.onmessage = (event) => {
      const msg = JSON.parse(event.data);
      this.handlers[msg.type]?.(msg);
    };
    this.ws.onclose = (event) => {
      if (event.code === 4401) return;
      this.handlers.offline?.();
      setTimeout(() => this.connect(), 2000);
    };
  }

  send(msg) {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(msg));
  }

  // A binary frame (a still of the analysis leg), unless the socket is down or still
  // holds more than ``backlog`` bytes unsent: on a slow network a still is skipped,
  // never queued behind the last one. True when it went.
  sendBinary(data, backlog) {
    if (this.ws.readyState !== WebSocket.OPEN || this.ws.bufferedAmount > backlog) return false;
    this.ws.send(data);
    return true;
  }
}

// The supervisor↔staff call: plain WebRTC between the two browsers, the server only
// relays offer, answer and candidates (leg "p2p").
export class PeerLeg {
  constructor(signal, call, iceServers, stream, onRemote) {
    this.signal = signal;
    this.call = call;
    this.pending = [];
    this.pc = new RTCPeerConnection({ iceServers });
    if (stream) {
      for (const track of stream.getTracks()) this.pc.addTrack(track, stream);
    } else {
      this.pc.addTransceiver("video", { direction: "recvonly" });
      this.pc.addTransceiver("audio", { direction: "recvonly" });
    }
    this.pc.ontrack = (event) => onRemote(event.streams[0] ?? new MediaStream([event.track]));
    this.pc.onicecandidate = (event) => {
      if (!event.candidate || !event.candidate.candidate) return;
      signal.send({
        type: "ice", call, leg: "p2p", candidate: event.candidate.candidate,
        sdpMid: event.candidate.sdpMid, sdpMLineIndex: event.candidate.sdpMLineIndex,
      });
    };
  }

  async offer() {
    await this.pc.setLocalDescription(await this.pc.createOffer());
    this.sendDescription();
  }

  async receive(msg) {
    if (msg.type === "ice") {
      const candidate = { candidate: msg.candidate, sdpMid: msg.sdpMid, sdpMLineIndex: msg.sdpMLineIndex };
      if (this.pc.remoteDescription) await this.pc.addIceCandidate(candidate);
      else this.pending.push(candidate);
      return;
    }
    await this.pc.setRemoteDescription({ type: msg.kind, sdp: msg.sdp });
    for (const candidate of this.pending.splice(0)) await this.pc.addIceCandidate(candidate);
    if (msg.kind === "offer") {
      await this.pc.setLocalDescription(await this.pc.createAnswer());
      this.sendDescription();
    }
  }

  sendDescription() {
    const { type, sdp } = this.pc.localDescription;
    this.signal.send({ type: "sdp", call: this.call, leg: "p2p", kind: type, sdp });
  }

  close() {
    this.pc.close();
  }
}

// Indicators, verdict and camera-on share from a `status` or `ended` message.
export function showStatus(msg) {
  for (const [name, indicator] of Object.entries(msg.indicators ?? {})) {
    const item = $(`[data-indicator="${name}"]`);
    if (!item) continue;
    item.hidden = false; // liveness shows once a challenge was asked for
    item.dataset.state = indicator.state;
    $("[data-reason]", item).textContent = indicatorText(indicator);
  }
  const box = $("[data-verdict]");
  box.dataset.verdict = msg.verdict;
  $("[data-verdict-text]", box).textContent = t(`verdict.${msg.verdict}`);
  const share = msg.camera_on;
  $("[data-camera-on]", box).textContent = share == null ? "—" : `${Math.round(share * 100)}%`;
}

// A liveness challenge on a page's box: from `challenge`, what is asked and a countdown
// to its deadline; from `challenge_result`, the outcome and why.
let countdown = null;
export function showChallenge(box, msg) {
  clearInterval(countdown);
  box.hidden = false;
  box.dataset.nonce = msg.nonce;
  $("[data-challenge-action]", box).textContent = t(`challenge.${msg.action}`);
  const note = $("[data-challenge-note]", box);
  if (msg.type === "challenge") {
    box.dataset.challengeState = "open";
    delete box.dataset.finding;
    const end = performance.now() + msg.deadline_s * 1000;
    const tick = () => {
      const left = Math.max(0, Math.ceil((end - performance.now()) / 1000));
      note.textContent = t("challenge.seconds").replace("{n}", left);
      if (!left) clearInterval(countdown);
    };
    tick();
    countdown = setInterval(tick, 250);
  } else {
    box.dataset.challengeState = msg.outcome;
    box.dataset.finding = msg.finding;
    note.textContent = `${t(`challenge.outcome.${msg.outcome}`)}: ${t(`challenge.finding.${msg.finding}`)}`;
  }
}

// A staff member's presence ({state, last_seen} from `welcome` or `presence`) on a badge:
// page open now, reachable by notification, or when last seen.
function ago(iso) {
  const minutes = Math.floor((Date.now() - Date.parse(iso)) / 60_000);
  if (minutes < 1) return t("ago.now");
  const [n, unit] = minutes < 60 ? [minutes, "minute"]
    : minutes < 1440 ? [Math.floor(minutes / 60), "hour"] : [Math.floor(minutes / 1440), "day"];
  return n === 1 ? t(`ago.${unit}`) : t(`ago.${unit}s`).replace("{n}", n);
}

export function showPresence(badge, { state, last_seen: seen }) {
  badge.dataset.presence = state;
  badge.dataset.lastSeen = seen ?? "";
  if (state !== "offline") badge.textContent = t(`presence.${state}`);
  else badge.textContent = seen ? t("presence.seen").replace("{ago}", ago(seen)) : t("presence.never");
}

// Review (supervisor: confirm or override) and objection (staff) forms post to the
// personal-link API; a reason is always required, and an override names its status.
// ``onDone`` runs after the server took one (the staff page shows the record anew).
export function wireRecordForms(root, onDone) {
  root.addEventListener("click", async (event) => {
    const button = event.target.closest('[data-action="confirm"], [data-action="override"], [data-action="object"]');
    if (!button) return;
    const form = button.closest("form");
    const note = $(".form-msg", form);
    const reason = form.elements.reason.value.trim();
    if (!reason) {
      note.className = "form-msg bad";
      note.textContent = t("reason_required");
      form.elements.reason.focus();
      return;
    }
    const action = button.dataset.action;
    if (action === "override" && !form.elements.status.value) {
      note.className = "form-msg bad";
      note.textContent = t("override_status_required");
      form.elements.status.focus();
      return;
    }
    const id = form.dataset.review ?? form.dataset.objection;
    const [verb, body] = action === "object"
      ? ["objection", { reason }]
      : ["review", { decision: action, reason,
          ...(action === "override" ? { status: form.elements.status.value } : {}) }];
    const failed = t(verb === "objection" ? "object_failed" : "review_failed");
    let response;
    try {
      response = await fetch(`/api/v1/me/records/${encodeURIComponent(id)}/${verb}`, {
        method: "POST",
        headers: { Authorization: `Link ${page.token}`, "Content-Type": "application/json" },
        body: JSON.stringify(body),
      });
    } catch {
      note.className = "form-msg bad";
      note.dataset.error = "network";
      note.textContent = `${failed}: ${t("api.network")}`;
      return;
    }
    if (response.ok) {
      form.dataset.done = action;
      for (const control of form.querySelectorAll("button, textarea, select")) control.disabled = true;
      note.className = "form-msg ok";
      note.textContent = t(action === "object" ? "object_done" : "review_done");
      onDone?.();
    } else {
      const problem = await response.json().catch(() => ({}));
      note.className = "form-msg bad";
      note.dataset.error = problem.error?.code ?? response.status;
      note.textContent = `${failed}: ${apiErrorText(verb, problem.error?.code)}`;
    }
  });
}

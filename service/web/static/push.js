// The staff page's side of the installable app and of Web Push (docs/push.md): the
// service worker, and the page's notifications panel (in the template when the server
// sends pushes), whose button asks for notifications, then saves the subscription; on
// every later visit the subscription is saved again (its refresh).
import { $, page, t } from "./hadir.js";

const API = "/push";

function request(method, path, body) {
  return fetch(`${API}${path}`, {
    method,
    headers: { Authorization: `Link ${page.token}`, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

function keyBytes(b64url) {
  const text = atob(b64url.replace(/-/g, "+").replace(/_/g, "/"));
  return Uint8Array.from(text, (c) => c.charCodeAt(0));
}

function sameKey(subscription, key) {
  const current = subscription.options?.applicationServerKey;
  if (!current) return true; // not told: assume it is ours
  const bytes = new Uint8Array(current);
  return bytes.length === key.length && bytes.every((b, i) => b === key[i]);
}

function setState(box, state) {
  box.dataset.pushState = state;
  const text = { on: "push.on", denied: "push.denied", unsupported: "push.unsupported", failed: "push.failed" }[state];
  $("[data-push-text]", box).textContent = t(text ?? "push.explain");
  $("button", box).hidden = state !== "offer" && state !== "failed";
}

async function save(subscription) {
  const response = await request("PUT", "/subscription", { ...subscription.toJSON(), lang: page.lang });
  if (!response.ok) throw new Error(`push subscription refused: ${response.status}`);
}

async function subscribe(registration, key) {
  let subscription = await registration.pushManager.getSubscription();
  if (subscription && !sameKey(subscription, key)) {
    await subscription.unsubscribe(); // the server's key changed: that one is useless
    subscription = null;
  }
  subscription ??= await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key });
  await save(subscription);
}

// Register the worker (always: it makes the page installable) and offer notifications.
// ``onMessage`` gets what the worker posts: a push seen while the page is open, or a
// tapped notification for this page.
export async function setupPush(onMessage) {
  if (!("serviceWorker" in navigator)) return;
  navigator.serviceWorker.addEventListener("message", (event) => onMessage(event.data));
  const registration = await navigator.serviceWorker.register("/sw.js", { scope: "/staff/" });
  const box = $("[data-push]");
  if (!box) return registration; // this server sends no push
  box.hidden = false;
  if (!("PushManager" in window) || !("Notification" in window)) {
    setState(box, "unsupported");
    return;
  }
  const answer = await request("GET", "/key").catch(() => null);
  if (!answer?.ok) {
    box.remove(); // push is off on this server
    return;
  }
  const key = keyBytes((await answer.json()).public_key);
  const turnOn = async () => {
    if ((await Notification.requestPermission()) !== "granted") {
      setState(box, "denied");
      return;
    }
    setState(box, "pending"); // subscribing asks the browser's push service: it may take a while
    try {
      await subscribe(await navigator.serviceWorker.ready, key);
      setState(box, "on");
    } catch {
      setState(box, "failed");
    }
  };
  $("button", box).addEventListener("click", turnOn);
  if (Notification.permission === "denied") setState(box, "denied");
  else if (Notification.permission === "granted") await turnOn(); // the refresh
  else setState(box, "offer");
  return registration;
}

// A ring notification outlives its call (answered here, cancelled, missed): close them
// once this page knows the ring is over.
export async function closeRingNotifications() {
  const registration = await navigator.serviceWorker?.getRegistration("/staff/");
  for (const shown of (await registration?.getNotifications()) ?? []) {
    if (shown.data?.kind === "ring") shown.close();
  }
}

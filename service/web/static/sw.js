// Hadir's service worker: shows the pushes the server sends (a ring, a reminder) and
// opens the staff page when one is tapped. It holds no text: the title and body come
// in the push, in the person's language (docs/push.md has the payload).

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

async function staffWindows() {
  const all = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
  return all.filter((client) => new URL(client.url).pathname.startsWith("/staff/"));
}

function samePage(client, url) {
  return new URL(client.url).pathname === new URL(url, self.location.origin).pathname;
}

async function show(payload) {
  // A page of this person in front already rings by itself: tell it, show nothing more.
  const windows = await staffWindows();
  const front = windows.find((client) => client.focused && samePage(client, payload.url));
  for (const client of windows) client.postMessage({ type: "push", payload });
  if (front && payload.kind === "ring") return;
  await self.registration.showNotification(payload.title, {
    body: payload.body,
    tag: payload.tag,
    renotify: true,
    requireInteraction: payload.kind === "ring",
    icon: "/static/icon-192.png",
    badge: "/static/icon-192.png",
    vibrate: payload.kind === "ring" ? [400, 200, 400, 200, 400] : [200],
    data: payload,
  });
}

self.addEventListener("push", (event) => {
  let payload;
  try {
    payload = event.data.json();
  } catch {
    return;
  }
  if (!payload || typeof payload.title !== "string" || typeof payload.url !== "string") return;
  event.waitUntil(show(payload));
});

async function openPage(payload) {
  const windows = await staffWindows();
  const open = windows.find((client) => samePage(client, payload.url));
  if (open) {
    await open.focus();
    open.postMessage({ type: "open", payload });
    return;
  }
  await self.clients.openWindow(payload.url);
}

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const payload = event.notification.data;
  if (payload && typeof payload.url === "string") event.waitUntil(openPage(payload));
});

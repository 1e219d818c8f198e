// The supervisor's dashboard: review forms; each staff member's presence, live over the
// signaling socket (their page open now, reachable by notification, or when last seen);
// and a refresh every minute so that checks open and close on time, unless the
// supervisor is typing a reason.
import { Signal, showPresence, wireRecordForms } from "./hadir.js";

const REFRESH_MS = 60_000;
const AGO_MS = 30_000; // "last seen 12 minutes ago" kept true between messages
const presence = new Map(); // staff id → {state, last_seen} as the server last said

// Under the staff member's name (the row's second cell) in every row of theirs.
function showRows() {
  for (const row of document.querySelectorAll("tr[data-staff]")) {
    const known = presence.get(row.dataset.staff);
    if (!known) continue;
    let badge = row.querySelector("[data-presence]");
    if (!badge) {
      badge = document.createElement("small");
      badge.className = "presence";
      row.cells[1].append(badge);
    }
    showPresence(badge, known);
  }
}

function learn(people) {
  for (const person of people ?? []) presence.set(person.id, person);
  showRows();
}

new Signal({
  welcome: (msg) => learn(msg.presence), // every staff member of this supervisor
  presence: (msg) => learn(msg.staff), // one whose first page opened or last closed
});
setInterval(showRows, AGO_MS);
wireRecordForms(document);
setInterval(() => {
  const typing = [...document.querySelectorAll("textarea")].some((area) => area.value.trim());
  if (!typing && document.visibilityState === "visible") location.reload();
}, REFRESH_MS);

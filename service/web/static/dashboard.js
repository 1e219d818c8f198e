// The supervisor's dashboard: review forms, and a refresh every minute so that checks
// open and close on time, unless the supervisor is typing a reason.
import { wireRecordForms } from "./hadir.js";

const REFRESH_MS = 60_000;

wireRecordForms(document);
setInterval(() => {
  const typing = [...document.querySelectorAll("textarea")].some((area) => area.value.trim());
  if (!typing && document.visibilityState === "visible") location.reload();
}, REFRESH_MS);

// Push opt-in through the service worker: ask the browser's permission, subscribe its push
// manager with the deployment's VAPID public key (GET /api/v1/notify/push/vapid-public-key) and
// register the subscription with the notify API (POST /api/v1/notify/push/subscriptions). The
// service worker (/sw.js) shows what arrives and opens the notification's page on a click.
import { api } from "@musicconnect/api";

function keyBytes(base64url) {
  const b64 = base64url.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (base64url.length % 4)) % 4);
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
}

export function pushSupported() {
  return "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;
}

export async function turnOnPush() {
  if (!pushSupported()) throw new Error("This browser cannot receive push notifications.");
  const permission = await Notification.requestPermission();
  if (permission !== "granted") throw new Error("Notifications are blocked for this site in the browser's settings.");
  const registration = await navigator.serviceWorker.ready;
  const {public_key} = await api("notify/push/vapid-public-key", {auth: false});
  let sub = await registration.pushManager.getSubscription();
  if (!sub) sub = await registration.pushManager.subscribe({userVisibleOnly: true, applicationServerKey: keyBytes(public_key)});
  return api("notify/push/subscriptions", {method: "POST", body: sub.toJSON()});
}

export async function turnOffPush(devices) {
  const registration = await navigator.serviceWorker.ready;
  const sub = await registration.pushManager.getSubscription();
  const mine = sub && devices.find((d) => d.endpoint === sub.endpoint);
  if (mine) await api(`notify/push/subscriptions/${mine.id}`, {method: "DELETE"});
  if (sub) await sub.unsubscribe();
}

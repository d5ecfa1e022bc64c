/// <reference lib="webworker" />
/**
 * The web client's service worker (served as `/sw.js`, scope `/`): it shows the offline
 * notifications of protocol 1.1 section 10 and opens their conversation on a click. It
 * caches nothing: the app is always loaded from the server.
 */

import { OPEN_MESSAGE, conversationLink, conversationOf, notificationFor } from "./notify.js";

declare const self: ServiceWorkerGlobalScope;

// A new version takes over at once: it holds no state an old page depends on.
self.addEventListener("install", () => void self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

self.addEventListener("push", (event) => {
  event.waitUntil(showPush(event.data));
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const conversationId = conversationOf(event.notification.data);
  event.waitUntil(openApp(conversationId));
});

/** Show the notification of one push (a payload that is not JSON gets the generic one). */
async function showPush(data: PushMessageData | null): Promise<void> {
  let payload: unknown;
  try {
    payload = data?.json();
  } catch {
    payload = undefined;
  }
  const { title, options } = notificationFor(payload);
  await self.registration.showNotification(title, options);
}

/**
 * Bring the app to the front on `conversationId`: an open page is told to open it (and
 * focused); with no page open, a new one opens on the conversation's link.
 */
async function openApp(conversationId: string | undefined): Promise<void> {
  const pages = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
  const page = pages.find((p) => p.focused) ?? pages[0];
  if (page) {
    if (conversationId) page.postMessage({ type: OPEN_MESSAGE, conversationId });
    try {
      await page.focus();
    } catch {
      // Focusing needs the click's user activation; the page still opened the conversation.
    }
    return;
  }
  const url = conversationId ? conversationLink(self.location.origin, conversationId) : new URL("/", self.location.origin).href;
  await self.clients.openWindow(url);
}

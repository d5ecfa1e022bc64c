/**
 * Offline notifications, the page's side (protocol 1.1 section 10): the service worker,
 * the browser's push subscription and the Parley device it is registered as. The user
 * turns them on from a visible control: browsers ask for the permission only then.
 */

import type { HttpClient } from "/parley.js";
import { base64UrlBytes } from "./notify.js";

/** Where the device id of this browser's subscription is kept, per user. */
const DEVICE_KEY = "parley.pushDevice.";
const WORKER_URL = "/sw.js";

/** The state the control shows. */
export type PushState = "unsupported" | "denied" | "off" | "on";

/** This browser's push subscription for one signed-in user. */
export class PushSetup {
  constructor(
    private readonly http: HttpClient,
    private readonly userId: string,
  ) {}

  /** Whether this browser can do Web Push at all (a secure context with the APIs). */
  static supported(): boolean {
    return window.isSecureContext && "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;
  }

  /** Register the service worker (no permission asked); resolves with its registration. */
  static async worker(): Promise<ServiceWorkerRegistration | undefined> {
    if (!("serviceWorker" in navigator)) return undefined;
    await navigator.serviceWorker.register(WORKER_URL, { scope: "/" });
    return navigator.serviceWorker.ready;
  }

  private get deviceKey(): string {
    return DEVICE_KEY + this.userId;
  }

  /** On when this browser has a subscription registered as this user's device. */
  async state(): Promise<PushState> {
    if (!PushSetup.supported()) return "unsupported";
    if (Notification.permission === "denied") return "denied";
    const registration = await navigator.serviceWorker.getRegistration("/");
    const subscription = await registration?.pushManager.getSubscription();
    return subscription && localStorage.getItem(this.deviceKey) ? "on" : "off";
  }

  /**
   * Ask for the permission, subscribe with the server's VAPID key and register the
   * subscription as a device (`POST /devices`). Resolves with the new state.
   */
  async enable(): Promise<PushState> {
    if (!PushSetup.supported()) return "unsupported";
    const permission = await Notification.requestPermission();
    if (permission !== "granted") return permission === "denied" ? "denied" : "off";
    const registration = await PushSetup.worker();
    if (!registration) return "unsupported";
    const { webpush } = await this.http.pushConfig();
    const key = base64UrlBytes(webpush.vapidPublicKey);
    let subscription = await registration.pushManager.getSubscription();
    if (subscription && !sameKey(subscription.options.applicationServerKey, key)) {
      // Subscribed with another server's key (the stack was redeployed): start again.
      await subscription.unsubscribe();
      subscription = null;
    }
    subscription ??= await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key });
    const { endpoint, keys } = subscription.toJSON();
    if (!endpoint || !keys?.p256dh || !keys.auth) throw new Error("the browser gave a subscription without keys");
    const { deviceId } = await this.http.registerDevice({
      platform: "webpush",
      subscription: { endpoint, keys: { p256dh: keys.p256dh, auth: keys.auth } },
    });
    localStorage.setItem(this.deviceKey, deviceId);
    return "on";
  }

  /** Unsubscribe and remove the device (`DELETE /devices/{id}`). Resolves with the new state. */
  async disable(): Promise<PushState> {
    const deviceId = localStorage.getItem(this.deviceKey);
    localStorage.removeItem(this.deviceKey);
    const registration = "serviceWorker" in navigator ? await navigator.serviceWorker.getRegistration("/") : undefined;
    const subscription = await registration?.pushManager.getSubscription();
    await subscription?.unsubscribe();
    if (deviceId) {
      try {
        await this.http.removeDevice(deviceId);
      } catch (error) {
        // Already gone (removed elsewhere, or after the push service refused it): off anyway.
        if ((error as { code?: number }).code !== 2003) throw error;
      }
    }
    return PushSetup.supported() && Notification.permission === "denied" ? "denied" : "off";
  }
}

function sameKey(current: ArrayBuffer | null, wanted: Uint8Array): boolean {
  if (!current) return false;
  const bytes = new Uint8Array(current);
  return bytes.length === wanted.length && bytes.every((b, i) => b === wanted[i]);
}

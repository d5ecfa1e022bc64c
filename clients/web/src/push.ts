/**
 * Offline notifications, the page's side (protocol 1.1 section 10): the service worker,
 * the browser's push subscription and the Parley device it is registered as. The user
 * turns them on from a visible control: browsers ask for the permission only then.
 */

import type { HttpClient } from "/parley.js";
import { base64UrlBytes } from "./notify.js";

/**
 * The device this browser's subscription is registered as: one subscription per browser, so
 * one owner. Kept with its endpoint, so that another account signing in on this browser
 * never takes over (or re-registers) a subscription that is not its own.
 */
const DEVICE_KEY = "parley.pushDevice";
const WORKER_URL = "/sw.js";

interface StoredDevice {
  userId: string;
  deviceId: string;
  endpoint: string;
}

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

  /**
   * On when this browser's subscription is registered as this user's device. It is
   * registered again (the same endpoint answers the same id), so that a device the server
   * dropped (its push service answered 410) comes back while the user keeps it on.
   */
  async state(): Promise<PushState> {
    if (!PushSetup.supported()) return "unsupported";
    if (Notification.permission === "denied") return "denied";
    const subscription = await currentSubscription();
    const stored = this.stored();
    if (!subscription || !stored || stored.endpoint !== subscription.endpoint || Notification.permission !== "granted") {
      return "off";
    }
    await this.register(subscription);
    return "on";
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
    const stored = this.stored();
    const mine = stored !== undefined && stored.endpoint === subscription?.endpoint;
    if (subscription && (!mine || !sameKey(subscription.options.applicationServerKey, key))) {
      // Another account's subscription on this browser, or one for another server's key (the
      // stack was redeployed): a new one, so that the old endpoint stops (its push service
      // answers 410 and the server drops that device).
      await subscription.unsubscribe();
      subscription = null;
    }
    subscription ??= await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key });
    await this.register(subscription);
    return "on";
  }

  /** Unsubscribe and remove the device (`DELETE /devices/{id}`). Resolves with the new state. */
  async disable(): Promise<PushState> {
    const stored = this.stored();
    const subscription = await currentSubscription();
    if (stored) localStorage.removeItem(DEVICE_KEY);
    await subscription?.unsubscribe();
    if (stored) {
      try {
        await this.http.removeDevice(stored.deviceId);
      } catch (error) {
        // Already gone (removed elsewhere, or after the push service refused it): off anyway.
        if ((error as { code?: number }).code !== 2003) throw error;
      }
    }
    return PushSetup.supported() && Notification.permission === "denied" ? "denied" : "off";
  }

  private async register(subscription: PushSubscription): Promise<void> {
    const { endpoint, keys } = subscription.toJSON();
    if (!endpoint || !keys?.p256dh || !keys.auth) throw new Error("the browser gave a subscription without keys");
    const { deviceId } = await this.http.registerDevice({
      platform: "webpush",
      subscription: { endpoint, keys: { p256dh: keys.p256dh, auth: keys.auth } },
    });
    const stored: StoredDevice = { userId: this.userId, deviceId, endpoint };
    localStorage.setItem(DEVICE_KEY, JSON.stringify(stored));
  }

  /** This user's stored device, if this browser's subscription is theirs. */
  private stored(): StoredDevice | undefined {
    try {
      const value = JSON.parse(localStorage.getItem(DEVICE_KEY) ?? "null") as Partial<StoredDevice> | null;
      if (value?.userId !== this.userId || typeof value.deviceId !== "string" || typeof value.endpoint !== "string") {
        return undefined;
      }
      return { userId: value.userId, deviceId: value.deviceId, endpoint: value.endpoint };
    } catch {
      return undefined;
    }
  }
}

async function currentSubscription(): Promise<PushSubscription | null> {
  if (!("serviceWorker" in navigator)) return null;
  const registration = await navigator.serviceWorker.getRegistration("/");
  return (await registration?.pushManager.getSubscription()) ?? null;
}

function sameKey(current: ArrayBuffer | null, wanted: Uint8Array): boolean {
  if (!current) return false;
  const bytes = new Uint8Array(current);
  return bytes.length === wanted.length && bytes.every((b, i) => b === wanted[i]);
}

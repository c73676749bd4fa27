
/** One key of a keyring: an id (may be empty) and 32 bytes in base64. */
export interface KeySpec {
  id?: string;
  key: string;
}

/** Options of `connect`. Unknown fields are refused (`invalid_options`), so typos show. */
export interface ConnectOptions {
  /**
   * `ws://HOST:PORT/ws` or `wss://...`; or several, tried in turn: each connection attempt
   * goes to the next one (after a refused or lost connection), the backoff grows once per
   * round of the list.
   */
  url: string | string[];
  session: string;
  password: string;
  /** A stable id (needed for `resume`); random otherwise. */
  clientId?: string;
  /** The name others see in presence. */
  displayName?: string;
  /** Keep subscriptions and pending messages on the server while offline. */
  resume?: boolean;
  /**
   * `client.resumeToken` of an earlier page load with this `clientId`: needed to take the
   * client id up again while the server still keeps its state. A secret of this client.
   */
  resumeToken?: string;
  /** The session-wide key (base64 of 32 bytes), from `generateKey` or `deriveKey`. */
  key?: string;
  /** A keyring instead of `key`: the last key seals, all of them open. */
  keys?: KeySpec[];
  /** Keys for topics matching a filter (private channels): filter -> key or keyring. */
  topicKeys?: Record<string, string | KeySpec[]>;
  /** Hand unsealed deliveries to the application instead of refusing them. */
  acceptPlaintext?: boolean;
  /** Ping interval in ms (default 10,000). */
  keepaliveMs?: number;
  /** How long a ping may go unanswered, ms (default 5,000). */
  pingTimeoutMs?: number;
  /** Longest time from opening the socket to the welcome, ms (default 10,000). */
  connectTimeoutMs?: number;
  /** Reconnection delays: `initialMs` (500), `maxMs` (30,000), `multiplier` (2),
   *  `jitter` (0.5), `maxAttempts` (absent: never give up). */
  backoff?: {
    initialMs?: number;
    maxMs?: number;
    multiplier?: number;
    jitter?: number;
    maxAttempts?: number;
  };
  /** QoS 1 publish retries: `ackTimeoutMs` (5,000), `maxAttempts` (10), `deadlineMs`
   *  (120,000; 0 for none). */
  publishRetry?: { ackTimeoutMs?: number; maxAttempts?: number; deadlineMs?: number };
  /** Bounds of the queue of unacked publishes: `maxMessages` (1,000), `maxBytes` (8 MiB). */
  outbox?: { maxMessages?: number; maxBytes?: number };
  /** Reconnect at once when the browser goes online or the page becomes visible
   *  (default true). */
  reconnectOnNetworkChange?: boolean;
}

export interface SubscribeOptions {
  /** Also report who else is subscribed to this filter (`presence` events). */
  presence?: boolean;
}

export interface PublishOptions {
  /** 1 (default): acked by the server, retried, receipt later. 0: fire and forget. */
  qos?: 0 | 1;
  /** Send without sealing. Only when meant: the server can read it. */
  plaintext?: boolean;
}

/** What a publish resolves with; `id` is what its `receipt` event names. */
export interface PublishResult {
  id: number;
  qos: 0 | 1;
}

export interface ServerErrorInfo {
  code: string;
  message: string;
}

export type ConnectionState =
  | { state: "connecting"; attempt: number }
  | { state: "connected"; clientId: string; sessionPresent: boolean }
  | {
      state: "reconnecting";
      attempt: number;
      /** The whole wait, ms. */
      delayMs: number;
      /** Ms from now until the next attempt. */
      inMs: number;
      reason: string;
      error?: ServerErrorInfo | null;
    }
  | { state: "closed"; code: string; message: string };

export interface Receipt {
  id: number;
  status: "delivered" | "expired" | "retries_exhausted" | "dropped" | "no_subscribers" | "unknown";
  delivered: number;
  failed: number;
}

export interface Member {
  clientId: string;
  displayName: string;
}

export interface Presence {
  filter: string;
  kind: "snapshot" | "join" | "leave";
  members: Member[];
}

export interface Restored {
  subscriptions: number;
}

export interface SubscriptionLost {
  filter: string;
  error: ServerErrorInfo;
}

/** A message that arrived but could not be opened; it was refused (nacked). */
export interface DeliveryRejected {
  topic: string;
  publisher: string;
  code: "cannot_open" | "no_key" | "plaintext" | "invalid_topic";
  message: string;
  /** The sealed envelope as the server relayed it. */
  envelope: Uint8Array;
}

export interface SessionSettings {
  /** Time between resends of an unacknowledged delivery, in milliseconds. */
  retryIntervalMs?: number | null;
  /** Resends of a delivery after the first attempt. */
  maxRetries?: number | null;
  /** How long a message stays cached, and an offline persistent client's state is kept, in milliseconds. */
  expiryMs?: number | null;
  /** Largest sealed message, in bytes. */
  maxMessageSize?: number | null;
  /** Connections at once in the session. */
  maxConnections?: number | null;
  /** Subscriptions per connection. */
  maxSubscriptions?: number | null;
  /** Unacknowledged deliveries per subscriber. */
  maxPending?: number | null;
  /** What happens to a subscriber at max_pending. */
  slowConsumerPolicy?: "disconnect" | "drop_oldest" | null;
  /** Payload bytes of QoS 1 messages cached at once; a publish beyond them gets queue_full, in bytes. */
  maxCacheBytes?: number | null;
}

export interface CreateSessionOptions {
  password: string;
  secret: string;
  adminToken?: string;
  settings?: SessionSettings;
}

/** A message delivered to this client: verified and decrypted before it got here. A plain
 *  object (it prints in the console and survives structured cloning, methods aside). */
export interface Message {
  /** The topic it was published to. */
  readonly topic: string;
  /** The publisher's client id, as the server saw it. */
  readonly publisher: string;
  /** The plaintext bytes (the message's own copy). */
  readonly payload: Uint8Array;
  /** Whether it was sealed end to end (false only with `acceptPlaintext`). */
  readonly encrypted: boolean;
  /** The id of the key that opened it (`""` for an unnamed key), or `undefined`. */
  readonly keyId: string | undefined;
  /** 0 (at most once) or 1 (at least once). */
  readonly qos: 0 | 1;
  /** The server's id of this message in the session. */
  readonly deliveryId: number;
  /** The sealed envelope exactly as the server relayed it: all the server ever saw of this
   *  message (version, flags, key id, IV, ciphertext, MAC). */
  readonly envelope: Uint8Array;
  /** The payload as UTF-8 text; throws `FastPortError` `not_text` if it is not UTF-8. */
  text(): string;
  /** The payload parsed as JSON; throws `FastPortError` `not_json` if it is not. */
  json(): any;
}

/** Every event `Client.on` accepts, with what its listener receives. */
export interface ClientEvents {
  state: ConnectionState;
  message: Message;
  presence: Presence;
  receipt: Receipt;
  restored: Restored;
  subscriptionLost: SubscriptionLost;
  deliveryRejected: DeliveryRejected;
  error: FastPortError;
}

/** `on` and `off`, typed per event (merged into the `Client` class). */
export interface Client {
  /** Adds a listener; an unknown event name throws `invalid_options`. */
  on<K extends keyof ClientEvents>(event: K, listener: (event: ClientEvents[K]) => void): void;
  /** Removes a listener added with `on`. */
  off<K extends keyof ClientEvents>(event: K, listener: (event: ClientEvents[K]) => void): void;
}

/** Every error the package throws or rejects with. `code` is stable: the server's error
 *  code (`bad_credentials`, `unknown_session`, `message_too_large`, ...) or the client's
 *  (`invalid_options`, `invalid_key`, `invalid_topic`, `invalid_filter`, `invalid_payload`,
 *  `no_key`, `outbox_full`, `closed`, `unreachable`, `expired`, `retries_exhausted`,
 *  `connection_lost`, `not_text`, `not_json`). */
export interface FastPortError extends Error {
  name: "FastPortError";
  code: string;
}

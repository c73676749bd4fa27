//! Joining and leaving: `Hello`, password checks off the router, admission into a session,
//! and what a closed connection leaves behind.

use std::net::IpAddr;
use std::time::Duration;

use fastport_proto::codec::{AdminRequest, ErrorCode, Frame, Hello, SessionConfig, Welcome};
use fastport_proto::names::{ClientId, DisplayName, SessionName};
use fastport_proto::time::Instant;

use super::admin::Origin;
use super::clients::ClientKey;
use super::session::{Failure, Session, SessionId, SessionSettings};
use super::timers::Timer;
use super::{Broker, ConnId, ConnState, Output};
use crate::auth::{self, HashCost, Job, JobKind, JobOutcome, JobResult, SecretHash};
use crate::guard::{prefix, Admission, GuardKey, Kind};
use crate::journal::Record;

/// The longest password, secret key or token accepted, in bytes.
pub const MAX_CREDENTIAL_BYTES: usize = 1024;

/// What to do when a job finishes.
#[derive(Debug)]
pub(crate) enum Continuation {
    /// Admit `conn` if its credential verified (`session` is `None` when the session does
    /// not exist, or for the admin token: the check cannot succeed then, or it was the
    /// token's).
    Hello {
        conn: ConnId,
        session: Option<SessionId>,
        hello: Hello,
        key: GuardKey,
    },
    /// Carry out `req` if its credential verified.
    AdminAuthorized {
        origin: Origin,
        req: AdminRequest,
        key: GuardKey,
    },
    /// Create the session with the new hashes.
    AdminCreate {
        origin: Origin,
        name: String,
        settings: SessionSettings,
    },
    /// Replace the session's password and/or secret with the new hashes, in the order
    /// given by `password` and `secret` (which were rotated).
    AdminRotate {
        origin: Origin,
        session: SessionId,
        password: bool,
        secret: bool,
    },
}

/// A `Hello` waiting for its turn to be checked.
#[derive(Debug)]
pub(crate) struct Parked {
    key: GuardKey,
    hello: Hello,
}

/// What an unknown session's password is checked against, so that it costs what a wrong
/// password costs: argon2id with the parameters of new hashes and an output nothing hashes
/// to.
pub(crate) fn stand_in_hash(cost: HashCost) -> SecretHash {
    let phc = match cost {
        HashCost::Test => {
            "$argon2id$v=19$m=8,t=1,p=1$c3RhbmQtaW4tc2FsdC0xMg$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
        }
        _ => "$argon2id$v=19$m=19456,t=2,p=1$c3RhbmQtaW4tc2FsdC0xMg$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    };
    // Invariant: both strings are well-formed argon2id PHC strings (a unit test reads them).
    SecretHash::from_phc(phc).expect("a valid stand-in hash")
}

impl Broker {
    /// Adds a session at startup (config file, demo session), with hashes made already.
    pub fn create_session(
        &mut self,
        name: &str,
        password: SecretHash,
        secret: SecretHash,
        settings: SessionSettings,
    ) -> Result<(), (ErrorCode, String)> {
        if let Err(e) = SessionName::new(name) {
            return Err((ErrorCode::INVALID_NAME, e.to_string()));
        }
        if self.session_ids.contains_key(name) {
            return Err((
                ErrorCode::SESSION_EXISTS,
                format!("session `{name}` already exists"),
            ));
        }
        if !self.config.totals.reserve_session(self.config.max_sessions) {
            return Err(self.full());
        }
        let id = SessionId(self.next_session);
        // Numbered apart from the other brokers' sessions: ids stay unique in the server.
        self.next_session += self.config.shard.count.max(1) as u64;
        let mut session = Session::new(name, password, secret, settings);
        // Delivery ids start at an unpredictable point per session instance, so ids of a
        // restarted server (or a re-created session) do not repeat the old ones that
        // clients may still remember.
        let digest = auth::fingerprint(
            &self.config.verify_cache_key,
            &format!("deliveries/{}", id.0),
        );
        let start = u64::from_be_bytes([
            digest[0], digest[1], digest[2], digest[3], digest[4], digest[5], digest[6], digest[7],
        ]);
        session.next_delivery = (start >> 16) + 1;
        self.sessions.insert(id, session);
        self.session_ids.insert(name.to_owned(), id);
        self.journal_session(id);
        Ok(())
    }

    /// Takes a queued job's continuation out, with its place in its prefix's share.
    pub(crate) fn take_job(&mut self, id: u64) -> Option<Continuation> {
        let cont = self.jobs.remove(&id)?;
        if let Some(p) = self.job_prefix.remove(&id) {
            if let Some(n) = self.jobs_per_prefix.get_mut(&p) {
                *n -= 1;
                if *n == 0 {
                    self.jobs_per_prefix.remove(&p);
                }
            }
        }
        Some(cont)
    }

    /// A job the driver ran has finished.
    pub fn handle_job_done(&mut self, now: Instant, result: JobResult) {
        let mark = self.input_mark();
        self.job_done(now, result);
        self.input_done(mark);
    }

    fn job_done(&mut self, now: Instant, result: JobResult) {
        let Some(cont) = self.take_job(result.id) else {
            return;
        };
        if let JobOutcome::Verified(ok) = result.outcome {
            if ok {
                self.metrics.password_checks_matched += 1;
            } else {
                self.metrics.password_checks_mismatched += 1;
            }
        }
        match (cont, result.outcome) {
            (
                Continuation::Hello {
                    conn,
                    session,
                    hello,
                    key,
                },
                JobOutcome::Verified(ok),
            ) => {
                let ok = ok && (session.is_some() || hello.session.is_empty());
                if ok {
                    self.logins.succeeded(&key);
                }
                if hello.admin_only {
                    self.admin_hello_verified(now, conn, session, hello, ok)
                } else {
                    self.hello_verified(now, conn, session, hello, ok)
                }
            }
            (Continuation::AdminAuthorized { origin, req, key }, JobOutcome::Verified(ok)) => {
                if ok {
                    self.logins.succeeded(&key);
                }
                self.admin_verified(now, origin, req, ok)
            }
            (
                Continuation::AdminCreate {
                    origin,
                    name,
                    settings,
                },
                JobOutcome::Hashed(hashes),
            ) => self.admin_hashed(origin, &name, settings, hashes),
            (
                Continuation::AdminRotate {
                    origin,
                    session,
                    password,
                    secret,
                },
                JobOutcome::Hashed(hashes),
            ) => self.admin_rotated(origin, session, (password, secret), hashes),
            (cont, outcome) => {
                mismatched_job(&format!("job result {outcome:?} does not fit {cont:?}"));
            }
        }
    }

    /// Queues slow work for a client at `peer`, or refuses when too much is queued already
    /// (over all, or by the client's address prefix: a quarter of the pool at most).
    pub(crate) fn start_job(
        &mut self,
        kind: JobKind,
        cont: Continuation,
        peer: Option<IpAddr>,
    ) -> bool {
        let share = (self.config.max_pending_jobs / 4).max(1);
        let p = prefix(peer);
        let mine = self.jobs_per_prefix.get(&p).copied().unwrap_or(0);
        if self.jobs.len() >= self.config.max_pending_jobs || mine >= share {
            return false;
        }
        let id = self.next_job;
        self.next_job += 1;
        self.jobs.insert(id, cont);
        self.job_prefix.insert(id, p);
        *self.jobs_per_prefix.entry(p).or_insert(0) += 1;
        self.outputs.push_back(Output::Run(Job { id, kind }));
        true
    }

    pub(crate) fn on_hello(&mut self, now: Instant, conn: ConnId, hello: Hello) {
        if hello.password.len() > MAX_CREDENTIAL_BYTES {
            let message =
                format!("the password or credential is longer than {MAX_CREDENTIAL_BYTES} bytes");
            return self.fail(conn, ErrorCode::CREDENTIAL_TOO_LARGE, &message);
        }
        if !hello.admin_only {
            if let Err((code, message)) = check_names(&hello) {
                return self.fail(conn, code, &message);
            }
        } else if !hello.session.is_empty() {
            if let Err(e) = SessionName::new(hello.session.as_str()) {
                return self.fail(conn, ErrorCode::INVALID_NAME, &e.to_string());
            }
        }
        if let Some(c) = self.conns.get_mut(&conn) {
            c.state = ConnState::Verifying;
            c.batch = hello.batch;
        }
        self.try_login(now, conn, hello);
    }

    /// Checks a `Hello`'s credential: at once if it verified before, else when the login
    /// limits let its check start (see `guard.rs`).
    fn try_login(&mut self, now: Instant, conn: ConnId, hello: Hello) {
        let id = self.session_ids.get(&hello.session).copied();
        let key = self.config.verify_cache_key;
        let remembered = id.and_then(|id| self.sessions.get(&id)).and_then(|s| {
            if hello.admin_only {
                s.secret_ok
            } else {
                s.password_ok
            }
        });
        if remembered.is_some_and(|ok| {
            auth::same_fingerprint(&ok, &auth::fingerprint(&key, &hello.password))
        }) {
            return if hello.admin_only {
                self.admin_hello_verified(now, conn, id, hello, true)
            } else {
                self.hello_verified(now, conn, id, hello, true)
            };
        }
        if hello.admin_only && hello.session.is_empty() && self.config.admin_token.is_none() {
            if self.config.open_session_creation {
                return self.welcome_admin(now, conn, hello.keepalive_ms);
            }
            return self.fail(conn, ErrorCode::BAD_CREDENTIALS, NO_ADMIN_CREDENTIAL);
        }
        if hello.admin_only && hello.password.is_empty() {
            return self.fail(conn, ErrorCode::BAD_CREDENTIALS, NO_ADMIN_CREDENTIAL);
        }
        let kind = if hello.admin_only {
            Kind::Secret
        } else {
            Kind::Password
        };
        let peer = self.conns.get(&conn).and_then(|c| c.peer);
        let guard_key = GuardKey::new(kind, &hello.session, peer);
        match self.logins.admit(now, &guard_key) {
            Admission::Start => self.start_check(conn, id, hello, guard_key, peer),
            Admission::Wait(turn) => {
                self.metrics.rate_limited += 1;
                if let Some(older) = self.waiting.insert(guard_key.clone(), conn) {
                    self.parked.remove(&older);
                    self.fail(older, ErrorCode::RATE_LIMITED, NEWER_LOGIN);
                }
                let parked = Parked {
                    key: guard_key,
                    hello,
                };
                self.parked.insert(conn, parked);
                self.timers.set(turn, Timer::Login(conn));
            }
            Admission::Refuse(wait) => {
                self.metrics.rate_limited += 1;
                let message = format!(
                    "too many failed logins, retry in {} s",
                    wait.as_secs().max(1)
                );
                self.fail(conn, ErrorCode::RATE_LIMITED, &message);
            }
        }
    }

    /// The turn of a waiting login came.
    pub(crate) fn login_turn(&mut self, now: Instant, conn: ConnId) {
        let Some(parked) = self.parked.remove(&conn) else {
            return;
        };
        if self.waiting.get(&parked.key) == Some(&conn) {
            self.waiting.remove(&parked.key);
        }
        self.try_login(now, conn, parked.hello);
    }

    fn start_check(
        &mut self,
        conn: ConnId,
        id: Option<SessionId>,
        hello: Hello,
        key: GuardKey,
        peer: Option<IpAddr>,
    ) {
        let session = id.and_then(|id| self.sessions.get(&id));
        let hash = match (hello.admin_only, hello.session.is_empty(), session) {
            (true, true, _) => self.config.admin_token.clone(),
            (true, false, Some(s)) => Some(s.secret.clone()),
            (false, _, Some(s)) => Some(s.password.clone()),
            _ => None,
        };
        let kind = JobKind::Verify {
            hash: hash.unwrap_or_else(|| stand_in_hash(self.config.hash_cost)),
            candidate: hello.password.clone(),
        };
        let cont = Continuation::Hello {
            conn,
            session: id,
            hello,
            key,
        };
        if !self.start_job(kind, cont, peer) {
            self.metrics.rate_limited += 1;
            self.fail(
                conn,
                ErrorCode::RATE_LIMITED,
                "too many logins in progress, retry later",
            );
        }
    }

    fn admin_hello_verified(
        &mut self,
        now: Instant,
        conn: ConnId,
        id: Option<SessionId>,
        hello: Hello,
        ok: bool,
    ) {
        if !self.conns.contains_key(&conn) {
            return;
        }
        if !ok {
            self.metrics.auth_failures += 1;
            return self.fail(conn, ErrorCode::BAD_CREDENTIALS, NO_ADMIN_CREDENTIAL);
        }
        if let Some(s) = id.and_then(|id| self.sessions.get_mut(&id)) {
            s.secret_ok = Some(auth::fingerprint(
                &self.config.verify_cache_key,
                &hello.password,
            ));
        }
        self.welcome_admin(now, conn, hello.keepalive_ms);
    }

    fn hello_verified(
        &mut self,
        now: Instant,
        conn: ConnId,
        id: Option<SessionId>,
        hello: Hello,
        ok: bool,
    ) {
        if !self.conns.contains_key(&conn) {
            return;
        }
        let key = self.config.verify_cache_key;
        let session = id.and_then(|id| self.sessions.get_mut(&id));
        let (Some(id), Some(session), true) = (id, session, ok) else {
            // An unknown session answers exactly like a wrong password.
            self.metrics.auth_failures += 1;
            // Without the name, so both answers are the same bytes.
            return self.fail(conn, ErrorCode::BAD_CREDENTIALS, WRONG_PASSWORD);
        };
        session.password_ok = Some(auth::fingerprint(&key, &hello.password));
        if session.suspended {
            let message = format!("session `{}` is suspended", hello.session);
            return self.fail(conn, ErrorCode::SESSION_SUSPENDED, &message);
        }
        if session.connections >= session.settings.max_connections as usize {
            let message = format!(
                "session `{}` has its maximum of {} connections",
                hello.session, session.settings.max_connections
            );
            return self.fail(conn, ErrorCode::TOO_MANY_CONNECTIONS, &message);
        }
        self.admit(now, conn, id, hello);
    }

    fn admit(&mut self, now: Instant, conn: ConnId, id: SessionId, hello: Hello) {
        let client_id = if hello.client_id.is_empty() {
            self.assign_client_id(conn)
        } else {
            hello.client_id
        };
        let Some(session) = self.sessions.get_mut(&id) else {
            return;
        };
        let existing = session.clients.key(&client_id);
        let holds_token =
            |c: &super::clients::ClientState| auth::same_token(&c.token, &hello.resume_token);
        if existing.is_some_and(|key| !session.clients.get(key).is_some_and(holds_token)) {
            // Only the holder of the state's token may take up a client id that has a
            // connection or resumable state: another member cannot push the real client
            // off, resume its state or ack its deliveries.
            let message = format!(
                "client id `{client_id}` is in use in session `{}` (by a connection, or \
                 state kept for it to resume) and this hello did not carry its resume token",
                session.name
            );
            return self.fail(conn, ErrorCode::CLIENT_ID_IN_USE, &message);
        }
        let taken_over = existing
            .and_then(|key| session.clients.get_mut(key))
            .and_then(|c| c.conn.take());
        if let Some(old) = taken_over {
            // The old connection leaves; its state stays for the new one.
            session.connections -= 1;
            self.conns.remove(&old);
            self.reject(
                old,
                ErrorCode::CLIENT_ID_TAKEN_OVER,
                "a newer connection took this client id",
            );
            if let Some(key) = existing {
                // The old connection leaves. A resume joins again right away: net nothing
                // for watchers unless the display name changed (`presence.rs`).
                self.presence_changed_all(now, id, key, false);
            }
        }
        let present = hello.resume && existing.is_some();
        if let Some(key) = existing.filter(|_| !present) {
            self.drop_client(id, key, Failure::Dropped);
        }
        let Some(session) = self.sessions.get_mut(&id) else {
            return;
        };
        let client = session.clients.get_or_insert(&client_id);
        let Some(state) = session.clients.get_mut(client) else {
            return;
        };
        // The client's token: a new one, or on a resume the one it presented (which
        // matched the stored digest).
        let state_token = if present {
            hello.resume_token
        } else {
            let token = resume_token(&self.config.verify_cache_key, id, conn);
            state.token = Some(auth::token_digest(&token));
            token
        };
        state.conn = Some(conn);
        let was_offline = state.offline_since.take().is_some();
        state.resume = hello.resume;
        state.display_name = hello.display_name;
        session.connections += 1;
        let config = session.settings.to_config();
        let keepalive = self.clamp_keepalive(hello.keepalive_ms);
        if let Some(c) = self.conns.get_mut(&conn) {
            c.state = ConnState::Active {
                session: id,
                client,
            };
            c.keepalive = keepalive;
        }
        self.timers
            .set(now + keepalive.mul_f64(1.5), Timer::Keepalive(conn));
        // This connection's hello timer, the client's offline timer, the keepalive of the
        // connection taken over.
        self.timers_went_stale(1 + usize::from(was_offline) + usize::from(taken_over.is_some()));
        let welcome = Welcome {
            session_present: present,
            batch: self.conns.get(&conn).is_some_and(|c| c.batch),
            resume_token: state_token,
            client_id,
            keepalive_ms: keepalive.as_millis() as u64,
            config,
        };
        self.send(conn, &Frame::Welcome(welcome));
        self.journal_client(id, client);
        if present {
            self.resume_client(now, id, client);
        }
    }

    fn welcome_admin(&mut self, now: Instant, conn: ConnId, keepalive_ms: u64) {
        let keepalive = self.clamp_keepalive(keepalive_ms);
        if let Some(c) = self.conns.get_mut(&conn) {
            c.state = ConnState::Admin;
            c.keepalive = keepalive;
        }
        self.timers
            .set(now + keepalive.mul_f64(1.5), Timer::Keepalive(conn));
        let welcome = Welcome {
            session_present: false,
            batch: self.conns.get(&conn).is_some_and(|c| c.batch),
            client_id: String::new(),
            resume_token: String::new(),
            keepalive_ms: keepalive.as_millis() as u64,
            config: SessionConfig::default(),
        };
        self.send(conn, &Frame::Welcome(welcome));
    }

    fn clamp_keepalive(&self, requested_ms: u64) -> Duration {
        if requested_ms == 0 {
            return self.config.keepalive_default;
        }
        Duration::from_millis(requested_ms)
            .clamp(self.config.keepalive_min, self.config.keepalive_max)
    }

    /// A client id for a `Hello` that asked the server to pick one: unpredictable (keyed
    /// with the process's random key) and unique (numbered by connection).
    fn assign_client_id(&self, conn: ConnId) -> String {
        let digest = auth::fingerprint(
            &self.config.verify_cache_key,
            &format!("client-id/{}", conn.0),
        );
        let random = u64::from_be_bytes([
            digest[0], digest[1], digest[2], digest[3], digest[4], digest[5], digest[6], digest[7],
        ]);
        ClientId::from_random(random ^ conn.0).as_str().to_owned()
    }

    /// Forgets a connection; what its client leaves behind depends on `resume`.
    pub(crate) fn forget_conn(&mut self, now: Instant, conn: ConnId) {
        let Some(c) = self.conns.remove(&conn) else {
            return;
        };
        // Its hello timer, and its keepalive or login timer.
        self.timers_went_stale(2);
        if let Some(parked) = self.parked.remove(&conn) {
            if self.waiting.get(&parked.key) == Some(&conn) {
                self.waiting.remove(&parked.key);
            }
        }
        let ConnState::Active {
            session: id,
            client,
        } = c.state
        else {
            return;
        };
        let Some(session) = self.sessions.get_mut(&id) else {
            return;
        };
        let Some(state) = session.clients.get_mut(client) else {
            return;
        };
        if state.conn != Some(conn) {
            return;
        }
        state.conn = None;
        state.offline_since = Some(now);
        session.connections -= 1;
        let resume = state.resume;
        let expiry = session.settings.expiry;
        let offline = (self.journal.enabled && resume).then(|| Record::ClientOffline {
            session: session.name.clone(),
            client: state.id.clone(),
            expiry,
        });
        self.presence_changed_all(now, id, client, false);
        if resume {
            if let Some(record) = offline {
                self.journal(record);
            }
            self.timers.set(
                now + expiry,
                Timer::Offline {
                    session: id,
                    client,
                },
            );
        } else {
            self.drop_client(id, client, Failure::Dropped);
        }
    }

    /// Removes a client's state: subscriptions, pending deliveries (failed for their
    /// publishers with `why`) and queued receipts.
    pub(crate) fn drop_client(&mut self, id: SessionId, client: ClientKey, why: Failure) {
        let Some(session) = self.sessions.get_mut(&id) else {
            return;
        };
        let Some(state) = session.clients.remove(client) else {
            return;
        };
        for filter in state.subs.keys() {
            session.topics.remove(filter, client);
        }
        if self.journal.enabled {
            let name = session.name.clone();
            for &delivery in state.pending.keys() {
                self.journal_settled(id, &state.id, delivery, false);
            }
            if state.resume {
                let client = state.id.clone();
                self.journal(Record::ClientGone {
                    session: name,
                    client,
                });
            }
        }
        // The state is gone, so these are settled directly rather than through `pending`.
        for &delivery in state.pending.keys() {
            self.count_settled(id, delivery, Some(why));
        }
        // Their retry timers and the offline one.
        self.timers_went_stale(state.pending.len() + 1);
    }

    pub(crate) fn expire_offline_client(&mut self, now: Instant, id: SessionId, client: ClientKey) {
        let Some(session) = self.sessions.get(&id) else {
            return;
        };
        let expiry = session.settings.expiry;
        let expired = session
            .clients
            .get(client)
            .and_then(|c| c.offline_since)
            .is_some_and(|since| since + expiry <= now);
        if expired {
            self.drop_client(id, client, Failure::Expired);
        }
    }
}

/// Why an admin-only `Hello` was refused.
const NO_ADMIN_CREDENTIAL: &str =
    "an admin-only connection needs the session's secret key or the admin token";

/// Why a `Hello` was refused, for a wrong password and an unknown session alike.
const WRONG_PASSWORD: &str = "wrong password, or no such session";

/// Why a waiting login was refused.
const NEWER_LOGIN: &str = "too many failed logins: a newer login from this address waits instead";

fn check_names(hello: &Hello) -> Result<(), (ErrorCode, String)> {
    let invalid = |e: fastport_proto::names::NameError| (ErrorCode::INVALID_NAME, e.to_string());
    SessionName::new(hello.session.as_str()).map_err(invalid)?;
    if !hello.client_id.is_empty() {
        ClientId::new(hello.client_id.as_str()).map_err(invalid)?;
    }
    if !hello.display_name.is_empty() {
        DisplayName::new(hello.display_name.as_str()).map_err(invalid)?;
    }
    Ok(())
}

/// A job result of the wrong kind is a bug in the broker: debug builds (and tests) stop on
/// it; release builds drop it rather than panic on behalf of a client.
fn mismatched_job(what: &str) {
    debug_assert!(false, "{what}");
}

/// A fresh resume token for the state a connection creates: 128 bits, unpredictable without
/// the process's random key, unique per connection, as 32 hex digits.
fn resume_token(key: &[u8; 32], session: SessionId, conn: ConnId) -> String {
    let digest = auth::fingerprint(key, &format!("resume-token/{}/{}", session.0, conn.0));
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

//! Joining and leaving: `Hello`, password checks off the router, admission into a session,
//! and what a closed connection leaves behind.

use std::time::Duration;

use fastport_proto::codec::{AdminRequest, ErrorCode, Frame, Hello, SessionConfig, Welcome};
use fastport_proto::names::{ClientId, DisplayName, SessionName};
use fastport_proto::time::Instant;

use super::admin::Origin;
use super::clients::ClientKey;
use super::session::{Failure, Session, SessionId, SessionSettings};
use super::timers::Timer;
use super::{Broker, ConnId, ConnState, Output};
use crate::auth::{self, Job, JobKind, JobOutcome, JobResult, SecretHash};

/// What to do when a job finishes.
#[derive(Debug)]
pub(crate) enum Continuation {
    /// Admit `conn` if the password verified.
    Hello {
        conn: ConnId,
        session: SessionId,
        hello: Hello,
    },
    /// Carry out `req` if its credential verified.
    AdminAuthorized { origin: Origin, req: AdminRequest },
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
        if self.sessions.len() >= self.config.max_sessions {
            let message = format!(
                "the server holds its maximum of {} sessions",
                self.sessions.len()
            );
            return Err((ErrorCode::TOO_MANY_SESSIONS, message));
        }
        let id = SessionId(self.next_session);
        self.next_session += 1;
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
        Ok(())
    }

    /// A job the driver ran has finished.
    pub fn handle_job_done(&mut self, now: Instant, result: JobResult) {
        let Some(cont) = self.jobs.remove(&result.id) else {
            return;
        };
        match (cont, result.outcome) {
            (
                Continuation::Hello {
                    conn,
                    session,
                    hello,
                },
                JobOutcome::Verified(ok),
            ) => self.hello_verified(now, conn, session, hello, ok),
            (Continuation::AdminAuthorized { origin, req }, JobOutcome::Verified(ok)) => {
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

    /// Queues slow work, or refuses when too much is queued already.
    pub(crate) fn start_job(&mut self, kind: JobKind, cont: Continuation) -> bool {
        if self.jobs.len() >= self.config.max_pending_jobs {
            return false;
        }
        let id = self.next_job;
        self.next_job += 1;
        self.jobs.insert(id, cont);
        self.outputs.push_back(Output::Run(Job { id, kind }));
        true
    }

    pub(crate) fn on_hello(&mut self, now: Instant, conn: ConnId, hello: Hello) {
        if hello.admin_only {
            return self.welcome_admin(now, conn, hello.keepalive_ms);
        }
        if let Err((code, message)) = check_names(&hello) {
            return self.fail(conn, code, &message);
        }
        let peer = self.conns.get(&conn).and_then(|c| c.peer);
        if let Some(wait) = peer.and_then(|ip| self.logins.blocked(now, ip)) {
            self.metrics.rate_limited += 1;
            let message = format!(
                "too many failed logins from this address, retry in {} s",
                wait.as_secs().max(1)
            );
            return self.fail(conn, ErrorCode::RATE_LIMITED, &message);
        }
        let Some(&id) = self.session_ids.get(&hello.session) else {
            let message = format!("no session named `{}`", hello.session);
            return self.fail(conn, ErrorCode::UNKNOWN_SESSION, &message);
        };
        let key = self.config.verify_cache_key;
        let Some(session) = self.sessions.get(&id) else {
            return;
        };
        let cached = session.password_ok.is_some_and(|ok| {
            auth::same_fingerprint(&ok, &auth::fingerprint(&key, &hello.password))
        });
        if cached {
            return self.hello_verified(now, conn, id, hello, true);
        }
        let kind = JobKind::Verify {
            hash: session.password.clone(),
            candidate: hello.password.clone(),
        };
        if let Some(c) = self.conns.get_mut(&conn) {
            c.state = ConnState::Verifying;
        }
        if !self.start_job(
            kind,
            Continuation::Hello {
                conn,
                session: id,
                hello,
            },
        ) {
            self.fail(
                conn,
                ErrorCode::RATE_LIMITED,
                "too many logins in progress, retry later",
            );
        }
    }

    fn hello_verified(
        &mut self,
        now: Instant,
        conn: ConnId,
        id: SessionId,
        hello: Hello,
        ok: bool,
    ) {
        if !self.conns.contains_key(&conn) {
            return;
        }
        let key = self.config.verify_cache_key;
        let Some(session) = self.sessions.get_mut(&id) else {
            let message = format!("no session named `{}`", hello.session);
            return self.fail(conn, ErrorCode::UNKNOWN_SESSION, &message);
        };
        if !ok {
            self.metrics.auth_failures += 1;
            if let Some(ip) = self.conns.get(&conn).and_then(|c| c.peer) {
                self.logins.failed(now, ip);
            }
            let message = format!("wrong password for session `{}`", hello.session);
            return self.fail(conn, ErrorCode::BAD_CREDENTIALS, &message);
        }
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
        state.conn = Some(conn);
        state.offline_since = None;
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
        let welcome = Welcome {
            session_present: present,
            client_id,
            keepalive_ms: keepalive.as_millis() as u64,
            config,
        };
        self.send(conn, &Frame::Welcome(welcome));
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
            client_id: String::new(),
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
        self.announce_all(id, client, false);
        if resume {
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
        // The state is gone, so these are settled directly rather than through `pending`.
        for &delivery in state.pending.keys() {
            self.count_settled(id, delivery, Some(why));
        }
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

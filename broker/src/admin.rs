//! Session administration, from `Admin` frames and from the HTTP API alike.

use std::net::IpAddr;

use fastport_proto::codec::{AdminOp, AdminRequest, AdminResult, ErrorCode, Frame, SessionConfig};
use fastport_proto::names::SessionName;
use fastport_proto::time::Instant;

use super::handshake::Continuation;
use super::session::SessionId;
use super::{Broker, ConnId, ConnState, Forwarded, Output};
use crate::auth::{self, HashCost, HashError, JobKind, SecretHash};
use crate::guard::{Admission, GuardKey, Kind};
use crate::handshake::{stand_in_hash, MAX_CREDENTIAL_BYTES};
use crate::journal::Record;

/// Who asked, so the answer goes back the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    /// An `Admin` frame on a connection, with its request id.
    Conn(ConnId, u64),
    /// An HTTP request, numbered by the driver, from this address.
    Http(u64, Option<IpAddr>),
}

/// The answer to an HTTP admin request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminAnswer {
    /// The number the driver gave the request.
    pub request: u64,
    /// The outcome.
    pub reply: AdminReply,
}

/// The outcome of an admin request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminReply {
    /// `ok` or why it failed.
    pub code: ErrorCode,
    /// Explanation (empty on success).
    pub message: String,
    /// The session's settings afterwards (empty after drop or failure).
    pub config: SessionConfig,
}

impl Broker {
    /// An admin request from the HTTP API, numbered `request` by the driver (the request's
    /// own `request_id` field is not used); answered with [`Output::Admin`].
    pub fn admin(&mut self, now: Instant, request: u64, peer: Option<IpAddr>, req: AdminRequest) {
        let mark = self.input_mark();
        self.start_admin(now, Origin::Http(request, peer), req);
        self.input_done(mark);
    }

    pub(crate) fn admin_frame(&mut self, now: Instant, conn: ConnId, req: AdminRequest) {
        if !self.config.shard.owns(&req.session) {
            let peer = self.conns.get(&conn).and_then(|c| c.peer);
            let forwarded = Forwarded {
                conn,
                peer,
                request: req,
            };
            self.outputs.push_back(Output::Forward(Box::new(forwarded)));
            return;
        }
        let origin = Origin::Conn(conn, req.request_id);
        self.start_admin(now, origin, req);
    }

    /// The reply to an `Admin` frame from `conn` that another broker ran (see
    /// [`Output::Forward`]): sent to the connection as its `AdminResult`, if it is still
    /// there.
    pub fn admin_forwarded(&mut self, conn: ConnId, request_id: u64, reply: AdminReply) {
        let origin = Origin::Conn(conn, request_id);
        self.answer(origin, reply.code, reply.message, Some(reply.config));
    }

    fn peer_of(&self, origin: Origin) -> Option<IpAddr> {
        match origin {
            Origin::Conn(conn, _) => self.conns.get(&conn).and_then(|c| c.peer),
            Origin::Http(_, peer) => peer,
        }
    }

    fn start_admin(&mut self, now: Instant, origin: Origin, req: AdminRequest) {
        if let Err(e) = SessionName::new(req.session.as_str()) {
            return self.answer(origin, ErrorCode::INVALID_NAME, e.to_string(), None);
        }
        let too_long = match &req.op {
            AdminOp::Create {
                password, secret, ..
            } => password.len().max(secret.len()) > MAX_CREDENTIAL_BYTES,
            _ => false,
        };
        if too_long || req.credential.len() > MAX_CREDENTIAL_BYTES {
            let message = format!(
                "a password, secret key or token is longer than {MAX_CREDENTIAL_BYTES} bytes"
            );
            return self.answer(origin, ErrorCode::CREDENTIAL_TOO_LARGE, message, None);
        }
        let check = match &req.op {
            AdminOp::Create {
                password,
                secret,
                config,
            } => self.check_create(&req.session, password, secret, config),
            _ => self.secret_check(&req.session, &req.credential),
        };
        match check {
            Err((code, message)) => self.answer(origin, code, message, None),
            Ok(None) => self.admin_authorized(now, origin, req),
            Ok(Some(hash)) => {
                // The admin token is guessed under the empty name, which no session has.
                let guessed = match req.op {
                    AdminOp::Create { .. } => "",
                    _ => req.session.as_str(),
                };
                let peer = self.peer_of(origin);
                let key = GuardKey::new(Kind::Secret, guessed, peer);
                match self.logins.admit(now, &key) {
                    Admission::Start => {}
                    Admission::Wait(turn) => {
                        return self.refuse_guess(origin, turn.saturating_duration_since(now))
                    }
                    Admission::Refuse(wait) => return self.refuse_guess(origin, wait),
                }
                let kind = JobKind::Verify {
                    hash,
                    candidate: req.credential.clone(),
                };
                let cont = Continuation::AdminAuthorized { origin, req, key };
                if !self.start_job(kind, cont, peer) {
                    self.metrics.rate_limited += 1;
                    let message = "too many admin requests in progress".to_owned();
                    self.answer(origin, ErrorCode::RATE_LIMITED, message, None);
                }
            }
        }
    }

    fn refuse_guess(&mut self, origin: Origin, wait: std::time::Duration) {
        self.metrics.rate_limited += 1;
        let message = format!(
            "too many failed credential checks, retry in {} s",
            wait.as_secs().max(1)
        );
        self.answer(origin, ErrorCode::RATE_LIMITED, message, None);
    }

    /// Checks a create request; `Ok(Some(hash))` when the admin token must be verified.
    fn check_create(
        &self,
        name: &str,
        password: &str,
        secret: &str,
        config: &SessionConfig,
    ) -> Result<Option<SecretHash>, (ErrorCode, String)> {
        if self.config.admin_token.is_none() && !self.config.open_session_creation {
            let message = "creating sessions needs the admin token, and this server has none \
                (start it with an admin token, or --open-session-creation for development)"
                .to_owned();
            return Err((ErrorCode::NOT_AUTHORIZED, message));
        }
        // With an admin token, whether a name exists is told only after the token checked
        // out (create_session refuses it then), so names cannot be probed without it.
        if self.config.admin_token.is_none() && self.session_ids.contains_key(name) {
            return Err((
                ErrorCode::SESSION_EXISTS,
                format!("session `{name}` already exists"),
            ));
        }
        if password.is_empty() || secret.is_empty() {
            let message = "a session needs a non-empty password and secret".to_owned();
            return Err((ErrorCode::INVALID_CONFIG, message));
        }
        if self.config.totals.sessions() >= self.config.max_sessions {
            return Err(self.full());
        }
        let mut settings = self.config.session_defaults;
        settings
            .apply(config)
            .and_then(|()| settings.check_limits(&self.config.session_limits))
            .map_err(|m| (ErrorCode::INVALID_CONFIG, m))?;
        Ok(self.config.admin_token.clone())
    }

    /// Checks a session's secret key; `Ok(None)` when it matched a remembered one.
    fn secret_check(
        &self,
        name: &str,
        credential: &str,
    ) -> Result<Option<SecretHash>, (ErrorCode, String)> {
        let Some(session) = self
            .session_ids
            .get(name)
            .and_then(|id| self.sessions.get(id))
        else {
            // Checked like a wrong secret key and answered alike, so names cannot be probed.
            return Ok(Some(stand_in_hash(self.config.hash_cost)));
        };
        let fingerprint = auth::fingerprint(&self.config.verify_cache_key, credential);
        if session
            .secret_ok
            .is_some_and(|ok| auth::same_fingerprint(&ok, &fingerprint))
        {
            return Ok(None);
        }
        Ok(Some(session.secret.clone()))
    }

    pub(crate) fn admin_verified(
        &mut self,
        now: Instant,
        origin: Origin,
        req: AdminRequest,
        ok: bool,
    ) {
        if !ok {
            self.metrics.auth_failures += 1;
            let message = if matches!(req.op, AdminOp::Create { .. }) {
                format!("wrong admin token for session `{}`", req.session)
            } else {
                format!(
                    "wrong secret key for session `{}`, or no such session",
                    req.session
                )
            };
            return self.answer(origin, ErrorCode::NOT_AUTHORIZED, message, None);
        }
        if !matches!(req.op, AdminOp::Create { .. }) {
            let fingerprint = auth::fingerprint(&self.config.verify_cache_key, &req.credential);
            if let Some(s) = self
                .session_ids
                .get(&req.session)
                .and_then(|id| self.sessions.get_mut(id))
            {
                s.secret_ok = Some(fingerprint);
            }
        }
        self.admin_authorized(now, origin, req);
    }

    fn admin_authorized(&mut self, now: Instant, origin: Origin, req: AdminRequest) {
        let id = self.session_ids.get(&req.session).copied();
        match (req.op, id) {
            (
                AdminOp::Create {
                    password,
                    secret,
                    config,
                },
                _,
            ) => {
                let mut settings = self.config.session_defaults;
                let checked = settings
                    .apply(&config)
                    .and_then(|()| settings.check_limits(&self.config.session_limits));
                if let Err(m) = checked {
                    return self.answer(origin, ErrorCode::INVALID_CONFIG, m, None);
                }
                // Checked again after the token: hashing is the expensive part.
                if self.session_ids.contains_key(&req.session) {
                    let message = format!("session `{}` already exists", req.session);
                    return self.answer(origin, ErrorCode::SESSION_EXISTS, message, None);
                }
                if self.config.totals.sessions() >= self.config.max_sessions {
                    let (code, message) = self.full();
                    return self.answer(origin, code, message, None);
                }
                let kind = JobKind::Hash {
                    secrets: vec![password, secret],
                    cost: self.hash_cost(),
                };
                let cont = Continuation::AdminCreate {
                    origin,
                    name: req.session,
                    settings,
                };
                let peer = self.peer_of(origin);
                if !self.start_job(kind, cont, peer) {
                    let message = "too many admin requests in progress".to_owned();
                    self.answer(origin, ErrorCode::RATE_LIMITED, message, None);
                }
            }
            (_, None) => {
                let message = format!("no session named `{}`", req.session);
                self.answer(origin, ErrorCode::UNKNOWN_SESSION, message, None);
            }
            (op, Some(id)) => self.session_op(now, origin, id, op),
        }
    }

    fn session_op(&mut self, now: Instant, origin: Origin, id: SessionId, op: AdminOp) {
        match op {
            AdminOp::Drop => {
                self.close_session_conns(now, id, ErrorCode::SESSION_DROPPED, "session dropped");
                if let Some(name) = self.forget_session(id) {
                    self.journal(Record::SessionDropped { session: name });
                }
                return self.answer(origin, ErrorCode::OK, String::new(), None);
            }
            AdminOp::Suspend => {
                if let Some(s) = self.sessions.get_mut(&id) {
                    s.suspended = true;
                }
                self.journal_session(id);
                self.close_session_conns(
                    now,
                    id,
                    ErrorCode::SESSION_SUSPENDED,
                    "session suspended",
                );
            }
            AdminOp::Resume => {
                if let Some(s) = self.sessions.get_mut(&id) {
                    s.suspended = false;
                }
                self.journal_session(id);
            }
            AdminOp::Configure(update) => {
                let Some(s) = self.sessions.get_mut(&id) else {
                    return;
                };
                let mut settings = s.settings;
                let checked = settings
                    .apply(&update)
                    .and_then(|()| settings.check_limits(&self.config.session_limits));
                if let Err(m) = checked {
                    return self.answer(origin, ErrorCode::INVALID_CONFIG, m, None);
                }
                s.settings = settings;
                self.journal_session(id);
            }
            AdminOp::Rotate { password, secret } => {
                return self.rotate(origin, id, password, secret)
            }
            // Describe (and Create, which never gets here) only answer with the settings.
            _ => {}
        }
        let config = self.sessions.get(&id).map(|s| s.settings.to_config());
        self.answer(origin, ErrorCode::OK, String::new(), config);
    }

    /// Hashes the new credentials off the router; [`Broker::admin_rotated`] puts them in.
    fn rotate(&mut self, origin: Origin, id: SessionId, password: String, secret: String) {
        if password.is_empty() && secret.is_empty() {
            let message = "give a new password, a new secret key, or both".to_owned();
            return self.answer(origin, ErrorCode::INVALID_CONFIG, message, None);
        }
        let cont = Continuation::AdminRotate {
            origin,
            session: id,
            password: !password.is_empty(),
            secret: !secret.is_empty(),
        };
        let secrets = [password, secret]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect();
        let kind = JobKind::Hash {
            secrets,
            cost: self.hash_cost(),
        };
        let peer = self.peer_of(origin);
        if !self.start_job(kind, cont, peer) {
            let message = "too many admin requests in progress".to_owned();
            self.answer(origin, ErrorCode::RATE_LIMITED, message, None);
        }
    }

    /// Puts rotated credentials in place: the remembered fingerprints of the old ones are
    /// forgotten, and checks still running against an old hash are started again against
    /// the new one, so the old credential is refused from now on.
    pub(crate) fn admin_rotated(
        &mut self,
        origin: Origin,
        id: SessionId,
        (password, secret): (bool, bool),
        hashes: Result<Vec<SecretHash>, HashError>,
    ) {
        let mut hashes = match hashes {
            Ok(h) if h.len() == usize::from(password) + usize::from(secret) => h.into_iter(),
            Ok(_) => return self.answer(origin, ErrorCode::INTERNAL_ERROR, "hashing".into(), None),
            Err(e) => return self.answer(origin, ErrorCode::INTERNAL_ERROR, e.to_string(), None),
        };
        let Some(session) = self.sessions.get_mut(&id) else {
            let message = "the session was dropped during the rotation".to_owned();
            return self.answer(origin, ErrorCode::UNKNOWN_SESSION, message, None);
        };
        if password {
            if let Some(hash) = hashes.next() {
                session.password = hash;
            }
            session.password_ok = None;
        }
        if secret {
            if let Some(hash) = hashes.next() {
                session.secret = hash;
            }
            session.secret_ok = None;
        }
        let config = session.settings.to_config();
        let name = session.name.clone();
        self.journal_session(id);
        self.recheck_running(id, &name, password, secret);
        self.answer(origin, ErrorCode::OK, String::new(), Some(config));
    }

    /// Starts again, against the session's current hashes, the checks of `Hello`s and admin
    /// requests still running against a rotated password (members' hellos) or secret key
    /// (admin-only hellos, admin requests). Their old jobs' results are ignored when they
    /// come.
    fn recheck_running(&mut self, id: SessionId, name: &str, pw: bool, sk: bool) {
        let mut stale: Vec<u64> = self
            .jobs
            .iter()
            .filter(|(_, cont)| match cont {
                Continuation::Hello { session, hello, .. } => {
                    *session == Some(id) && if hello.admin_only { sk } else { pw }
                }
                Continuation::AdminAuthorized { req, .. } => {
                    sk && req.session == name && !matches!(req.op, AdminOp::Create { .. })
                }
                Continuation::AdminCreate { .. } | Continuation::AdminRotate { .. } => false,
            })
            .map(|(job, _)| *job)
            .collect();
        // In job order, not hash order: a replayed run starts them alike.
        stale.sort_unstable();
        for job in stale {
            let Some(cont) = self.take_job(job) else {
                continue;
            };
            let Some(session) = self.sessions.get(&id) else {
                continue;
            };
            let (hash, candidate, peer) = match &cont {
                Continuation::Hello { hello, conn, .. } => {
                    let hash = if hello.admin_only {
                        &session.secret
                    } else {
                        &session.password
                    };
                    let peer = self.conns.get(conn).and_then(|c| c.peer);
                    (hash.clone(), hello.password.clone(), peer)
                }
                Continuation::AdminAuthorized { req, origin, .. } => (
                    session.secret.clone(),
                    req.credential.clone(),
                    self.peer_of(*origin),
                ),
                Continuation::AdminCreate { .. } | Continuation::AdminRotate { .. } => continue,
            };
            // Never refused: the old job's place in the queue, and in its prefix's share,
            // was just freed.
            let kind = JobKind::Verify { hash, candidate };
            let _started = self.start_job(kind, cont, peer);
        }
    }

    pub(crate) fn admin_hashed(
        &mut self,
        origin: Origin,
        name: &str,
        settings: super::SessionSettings,
        hashes: Result<Vec<SecretHash>, HashError>,
    ) {
        let (password, secret) = match hashes {
            Ok(mut h) if h.len() == 2 => {
                let secret = h.remove(1);
                (h.remove(0), secret)
            }
            Ok(_) => return self.answer(origin, ErrorCode::INTERNAL_ERROR, "hashing".into(), None),
            Err(e) => return self.answer(origin, ErrorCode::INTERNAL_ERROR, e.to_string(), None),
        };
        match self.create_session(name, password, secret, settings) {
            Ok(()) => self.answer(
                origin,
                ErrorCode::OK,
                String::new(),
                Some(settings.to_config()),
            ),
            Err((code, message)) => self.answer(origin, code, message, None),
        }
    }

    /// Removes a session whose connections are closed already, with its cache and timers;
    /// returns its name. Journals nothing.
    fn forget_session(&mut self, id: SessionId) -> Option<String> {
        let session = self.sessions.remove(&id)?;
        self.config.totals.release_session();
        self.forget_cache(session.cache_bytes);
        self.session_ids.remove(&session.name);
        // The retries of its deliveries, its clients' offline timers, its expiry and its
        // sweep.
        let waiting: usize = session.messages.values().map(|m| m.waiting as usize).sum();
        self.timers_went_stale(waiting + session.clients.len() + 2);
        Some(session.name.clone())
    }

    /// Whether this broker serves a session of that name.
    pub fn has_session(&self, name: &str) -> bool {
        self.session_ids.contains_key(name)
    }

    /// The names of the sessions this broker serves, sorted.
    pub fn session_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.session_ids.keys().cloned().collect();
        names.sort_unstable();
        names
    }

    /// Lets go of a session that another node now serves (several nodes on one store):
    /// closes its connections with `session_moved`, so that their clients reconnect and
    /// reach it there, and forgets it with its cache, clients and timers. Journals nothing:
    /// what is stored of it stays, for the node that serves it now. Returns whether the
    /// broker had it.
    pub fn unload_session(&mut self, now: Instant, name: &str) -> bool {
        let Some(&id) = self.session_ids.get(name) else {
            return false;
        };
        let enabled = std::mem::replace(&mut self.journal.enabled, false);
        self.close_session_conns(
            now,
            id,
            ErrorCode::SESSION_MOVED,
            "the session moved to another node",
        );
        self.forget_session(id);
        self.journal.enabled = enabled;
        true
    }

    fn close_session_conns(&mut self, now: Instant, id: SessionId, code: ErrorCode, why: &str) {
        let mut conns: Vec<ConnId> = self
            .conns
            .iter()
            .filter(
                |(_, c)| matches!(&c.state, ConnState::Active { session, .. } if *session == id),
            )
            .map(|(conn, _)| *conn)
            .collect();
        // In connection order, not hash order: a replayed run closes them alike.
        conns.sort_unstable();
        for conn in conns {
            self.close_conn(now, conn, code, why);
        }
    }

    /// The refusal when the server holds its maximum of sessions.
    pub(crate) fn full(&self) -> (ErrorCode, String) {
        let message = format!(
            "the server holds its maximum of {} sessions",
            self.config.max_sessions
        );
        (ErrorCode::TOO_MANY_SESSIONS, message)
    }

    fn hash_cost(&self) -> HashCost {
        self.config.hash_cost
    }

    fn answer(
        &mut self,
        origin: Origin,
        code: ErrorCode,
        message: String,
        config: Option<SessionConfig>,
    ) {
        let config = config.unwrap_or_default();
        match origin {
            Origin::Conn(conn, request_id) => {
                if self.conns.contains_key(&conn) {
                    let frame = AdminResult {
                        request_id,
                        code,
                        message,
                        config,
                    };
                    self.send(conn, &Frame::AdminResult(frame));
                }
            }
            Origin::Http(request, _) => {
                let reply = AdminReply {
                    code,
                    message,
                    config,
                };
                self.outputs
                    .push_back(Output::Admin(Box::new(AdminAnswer { request, reply })));
            }
        }
    }
}

//! Session administration, from `Admin` frames and from the HTTP API alike.

use std::net::IpAddr;

use fastport_proto::codec::{AdminOp, AdminRequest, AdminResult, ErrorCode, Frame, SessionConfig};
use fastport_proto::names::SessionName;
use fastport_proto::time::Instant;

use super::handshake::Continuation;
use super::session::SessionId;
use super::{Broker, ConnId, ConnState, Output};
use crate::auth::{self, HashCost, HashError, JobKind, SecretHash};

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
        self.start_admin(now, Origin::Http(request, peer), req);
    }

    pub(crate) fn admin_frame(&mut self, now: Instant, conn: ConnId, req: AdminRequest) {
        let origin = Origin::Conn(conn, req.request_id);
        self.start_admin(now, origin, req);
    }

    fn peer_of(&self, origin: Origin) -> Option<IpAddr> {
        match origin {
            Origin::Conn(conn, _) => self.conns.get(&conn).and_then(|c| c.peer),
            Origin::Http(_, peer) => peer,
        }
    }

    fn start_admin(&mut self, now: Instant, origin: Origin, req: AdminRequest) {
        if let Some(wait) = self
            .peer_of(origin)
            .and_then(|ip| self.logins.blocked(now, ip))
        {
            self.metrics.rate_limited += 1;
            let message = format!(
                "too many failed credential checks from this address, retry in {} s",
                wait.as_secs().max(1)
            );
            return self.answer(origin, ErrorCode::RATE_LIMITED, message, None);
        }
        if let Err(e) = SessionName::new(req.session.as_str()) {
            return self.answer(origin, ErrorCode::INVALID_NAME, e.to_string(), None);
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
                let kind = JobKind::Verify {
                    hash,
                    candidate: req.credential.clone(),
                };
                if !self.start_job(kind, Continuation::AdminAuthorized { origin, req }) {
                    let message = "too many admin requests in progress".to_owned();
                    self.answer(origin, ErrorCode::RATE_LIMITED, message, None);
                }
            }
        }
    }

    /// Checks a create request; `Ok(Some(hash))` when the admin token must be verified.
    fn check_create(
        &self,
        name: &str,
        password: &str,
        secret: &str,
        config: &SessionConfig,
    ) -> Result<Option<SecretHash>, (ErrorCode, String)> {
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
        let mut settings = self.config.session_defaults;
        settings
            .apply(config)
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
            return Err((
                ErrorCode::UNKNOWN_SESSION,
                format!("no session named `{name}`"),
            ));
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
            if let Some(ip) = self.peer_of(origin) {
                self.logins.failed(now, ip);
            }
            let what = if matches!(req.op, AdminOp::Create { .. }) {
                "admin token"
            } else {
                "secret key"
            };
            let message = format!("wrong {what} for session `{}`", req.session);
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
                if let Err(m) = settings.apply(&config) {
                    return self.answer(origin, ErrorCode::INVALID_CONFIG, m, None);
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
                if !self.start_job(kind, cont) {
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
                if let Some(session) = self.sessions.remove(&id) {
                    self.session_ids.remove(&session.name);
                }
                return self.answer(origin, ErrorCode::OK, String::new(), None);
            }
            AdminOp::Suspend => {
                if let Some(s) = self.sessions.get_mut(&id) {
                    s.suspended = true;
                }
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
            }
            AdminOp::Configure(update) => {
                let Some(s) = self.sessions.get_mut(&id) else {
                    return;
                };
                if let Err(m) = s.settings.apply(&update) {
                    return self.answer(origin, ErrorCode::INVALID_CONFIG, m, None);
                }
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
        if !self.start_job(kind, cont) {
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
        self.recheck_running(id, &name, password, secret);
        self.answer(origin, ErrorCode::OK, String::new(), Some(config));
    }

    /// Starts again, against the session's current hashes, the checks of `Hello`s (when the
    /// password changed) and admin requests (when the secret changed) still running against
    /// the old ones. Their old jobs' results are ignored when they come.
    fn recheck_running(&mut self, id: SessionId, name: &str, pw: bool, sk: bool) {
        let mut stale: Vec<u64> = self
            .jobs
            .iter()
            .filter(|(_, cont)| match cont {
                Continuation::Hello { session, .. } => pw && *session == id,
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
            let Some(cont) = self.jobs.remove(&job) else {
                continue;
            };
            let Some(session) = self.sessions.get(&id) else {
                continue;
            };
            let (hash, candidate) = match &cont {
                Continuation::Hello { hello, .. } => {
                    (session.password.clone(), hello.password.clone())
                }
                Continuation::AdminAuthorized { req, .. } => {
                    (session.secret.clone(), req.credential.clone())
                }
                Continuation::AdminCreate { .. } | Continuation::AdminRotate { .. } => continue,
            };
            // Never refused: the old job's place in the queue was just freed.
            let kind = JobKind::Verify { hash, candidate };
            let _started = self.start_job(kind, cont);
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

//! The connection's lifecycle: connecting, losing it, backing off, closing for good.

use super::event::{CloseReason, Event, PublishFailure, RequestFailure, ServerError, State};
use super::{backoff, Client, Pending, Phase, PublishOutcome, TransportCommand};
use crate::time::Instant;

impl Client {
    pub(super) fn set_state(&mut self, state: State) {
        self.events.push_back(Event::StateChanged(state));
    }

    pub(super) fn start_connect(&mut self, now: Instant) {
        self.attempt += 1;
        // Round robin; `url_index` starts on the last URL, so the first attempt takes the first.
        self.url_index = (self.url_index + 1) % self.config.urls.len().max(1);
        self.phase = Phase::Opening {
            deadline: now + self.config.connect_timeout,
        };
        self.transport.push_back(TransportCommand::Connect {
            url: self.url().to_owned(),
        });
        self.set_state(State::Connecting {
            attempt: self.attempt,
        });
    }

    /// Closes the transport from this side and plans the next attempt.
    pub(super) fn drop_connection(&mut self, now: Instant, code: u16, reason: &str) {
        self.transport.push_back(TransportCommand::Close {
            code,
            reason: reason.to_owned(),
        });
        self.connection_lost(now, reason.to_owned(), None);
    }

    pub(super) fn connection_lost(
        &mut self,
        now: Instant,
        reason: String,
        error: Option<ServerError>,
    ) {
        self.forget_connection();
        if let Some(max) = self.config.backoff.max_attempts {
            if self.attempt >= max {
                self.close_with(CloseReason::GaveUp {
                    attempts: self.attempt,
                });
                return;
            }
        }
        let next = self.attempt + 1;
        // Grows per round of the URL list (see `BackoffConfig`); one URL: per attempt.
        let round = (next - 1) / self.config.urls.len().max(1) as u32 + 1;
        let delay = backoff::delay(&self.config.backoff, round, &mut self.rng);
        let at = now + delay;
        self.phase = Phase::Waiting { until: at };
        self.last_loss = (reason.clone(), delay, error.clone());
        self.set_state(State::Reconnecting {
            attempt: next,
            at,
            delay,
            reason,
            error,
        });
    }

    /// Moves what was in flight on the lost connection back to where the next
    /// connection picks it up.
    pub(super) fn forget_connection(&mut self) {
        self.outbox.mark_all_unsent();
        self.restoring = None;
        self.ping_sent_at = None;
        // In request order: requests are numbered as they are made, and kept in that order.
        for (_, p) in std::mem::take(&mut self.pending) {
            match p {
                // Re-sent from `subs` after the next welcome.
                Pending::Subscribe { .. } => {}
                Pending::Unsubscribe { filter, request } => {
                    self.queued_unsubs.push((request, filter))
                }
                Pending::Admin { request } => self.events.push_back(Event::AdminResult {
                    request,
                    result: Err(RequestFailure::ConnectionLost),
                }),
            }
        }
    }

    pub(super) fn close_fatal(&mut self, error: ServerError) {
        if self.has_transport() {
            let code = error.code.close_code();
            let reason = error.code.name().to_owned();
            self.transport
                .push_back(TransportCommand::Close { code, reason });
        }
        self.close_with(CloseReason::Fatal(error));
    }

    /// Ends the client: settles everything still open, exactly once.
    pub(super) fn close_with(&mut self, reason: CloseReason) {
        self.forget_connection();
        self.phase = Phase::Closed(reason.clone());
        for id in self.outbox.ids() {
            self.settle(id, PublishOutcome::Failed(PublishFailure::Closed));
        }
        self.outbox.drain();
        for (filter, sub) in std::mem::take(&mut self.subs) {
            for request in sub.requests {
                let result = Err(RequestFailure::Closed);
                self.events.push_back(Event::Subscribed {
                    request,
                    filter: filter.clone(),
                    result,
                });
            }
        }
        for (request, filter) in std::mem::take(&mut self.queued_unsubs) {
            let result = Err(RequestFailure::Closed);
            self.events.push_back(Event::Unsubscribed {
                request,
                filter,
                result,
            });
        }
        for (request, _) in std::mem::take(&mut self.queued_admin) {
            let result = Err(RequestFailure::Closed);
            self.events
                .push_back(Event::AdminResult { request, result });
        }
        self.set_state(State::Closed { reason });
    }
}

//! The browser driver: owns the sans-IO core, one `WebSocket` and one `setTimeout`, and
//! runs the core's pump after every input. No protocol logic lives here.
//!
//! JavaScript is only ever called (listeners, subscription callbacks, promise settlement)
//! after the `RefCell` borrow of the driver is dropped: a callback may call back into the
//! client (publish from inside `onMessage`, say) without a "recursive use" panic.

use std::cell::RefCell;
use std::rc::{Rc, Weak};

use bytes::Bytes;
use fastport_client_core::client::{Message as CoreMessage, State};
use fastport_client_core::codec::Qos;
use fastport_client_core::dispatch::{Dispatch, Handles, Output};
use fastport_client_core::time::Instant;
use fastport_client_core::{Client as Core, TransportCommand};
use js_sys::{Function, Promise, Uint8Array};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{CloseEvent, MessageEvent};

use crate::error::Failure;
use crate::events;
use crate::host::{
    clear_timeout, deliver, millis, now, set_timeout, watch_network, Deferred, Listeners, Socket,
};
use crate::message;
use crate::Client;

/// What to do with JavaScript once the driver is no longer borrowed.
enum Action {
    Resolve(Deferred, JsValue),
    Reject(Deferred, JsValue),
    /// Call the listeners of an event with the value.
    Emit(&'static str, JsValue),
    /// Hand a message to a subscription's callback.
    Deliver(Function, JsValue),
    /// The driver's reference to itself, dropped outside the borrow.
    Release(Shared),
}

/// The driver's handles: promises to settle and subscription callbacks.
#[derive(Debug)]
pub(crate) struct Browser;

impl Handles for Browser {
    /// A subscription's `onMessage` (optional).
    type Sink = Option<Function>;
    type Connect = Deferred;
    type Request = Deferred;
    type Publish = Deferred;
    type Admin = Deferred;
}

pub(crate) struct Driver {
    app: Dispatch<Browser>,
    me: Weak<RefCell<Driver>>,
    socket: Option<Socket>,
    generation: u64,
    timer: Option<JsValue>,
    on_timer: Option<Closure<dyn FnMut()>>,
    /// The page events that trigger a reconnect check: the handler and what stops it.
    network: Option<(Closure<dyn FnMut()>, Function)>,
    listeners: Listeners,
    /// The driver keeps itself alive until the client is closed, like a browser keeps an
    /// open `WebSocket`: the page may drop every `Client` handle and still get its events.
    /// Taken (breaking the cycle) when the core reports `Closed`.
    alive: Option<Shared>,
}

pub(crate) type Shared = Rc<RefCell<Driver>>;

impl Driver {
    /// Creates the driver, starts connecting, and returns it with the promise of the first
    /// connection.
    pub(crate) fn start(core: Core, watch_network: bool) -> (Shared, Promise) {
        let (promise, first) = Deferred::start();
        let shared = Rc::new_cyclic(|me| {
            RefCell::new(Driver {
                app: Dispatch::new(core, first),
                me: me.clone(),
                socket: None,
                generation: 0,
                timer: None,
                on_timer: None,
                network: None,
                listeners: Listeners::new(),
                alive: None,
            })
        });
        shared.borrow_mut().alive = Some(Rc::clone(&shared));
        {
            let mut d = shared.borrow_mut();
            let me = Rc::downgrade(&shared);
            d.on_timer = Some(Closure::new(move || {
                if let Some(shared) = me.upgrade() {
                    shared.borrow_mut().timer = None;
                    let now = now();
                    shared.borrow_mut().app.handle_timeout(now);
                    pump(&shared);
                }
            }));
            if watch_network {
                d.watch_network();
            }
        }
        pump(&shared);
        (shared, promise)
    }

    /// The browser's `online` event and a page becoming visible again trigger an
    /// immediate reconnect check instead of waiting for the next backoff step.
    fn watch_network(&mut self) {
        let me = self.me.clone();
        let wake: Closure<dyn FnMut()> = Closure::new(move || {
            if let Some(shared) = me.upgrade() {
                let now = now();
                shared.borrow_mut().app.reconnect_now(now);
                pump(&shared);
            }
        });
        if let Some(stop) = watch_network(wake.as_ref().unchecked_ref()) {
            self.network = Some((wake, stop));
        }
    }

    fn unwatch_network(&mut self) {
        if let Some((_wake, stop)) = self.network.take() {
            let _ = stop.call0(&JsValue::NULL);
        }
    }

    pub(crate) fn app(&mut self) -> &mut Dispatch<Browser> {
        &mut self.app
    }

    pub(crate) fn state(&self) -> State {
        self.app.state()
    }

    pub(crate) fn client_id(&self) -> String {
        self.app.client_id().to_owned()
    }

    pub(crate) fn resume_token(&self) -> String {
        self.app.client().resume_token().to_owned()
    }

    pub(crate) fn listeners(&self) -> &Listeners {
        &self.listeners
    }

    // ----- the pump -----------------------------------------------------------------

    /// Carries out the core's transport requests and sends its frames; turns its events
    /// into actions for JavaScript.
    fn drain(&mut self, actions: &mut Vec<Action>) {
        while let Some(cmd) = self.app.poll_transport() {
            match cmd {
                TransportCommand::Connect { url } => self.open(&url),
                TransportCommand::Close { code, reason } => {
                    if let Some(socket) = self.socket.take() {
                        socket.shut(code, &reason);
                    }
                }
            }
        }
        while let Some(bytes) = self.app.poll_transmit() {
            let sent = match &self.socket {
                Some(socket) => socket.ws.send_with_u8_array(&bytes).is_ok(),
                None => false,
            };
            if !sent {
                // The socket is closing: its close event tells the core, which resends
                // what needs resending after the next connect.
                break;
            }
        }
        while let Some(output) = self.app.poll_output() {
            self.on_output(output, actions);
        }
    }

    fn open(&mut self, url: &str) {
        if let Some(old) = self.socket.take() {
            old.shut(1000, "reconnecting");
        }
        self.generation += 1;
        let generation = self.generation;
        let me = self.me.clone();
        let on_open: Closure<dyn FnMut()> = Closure::new(move || {
            with_current(&me, generation, |d, now| d.app.handle_open(now));
        });
        let me = self.me.clone();
        let on_message: Closure<dyn FnMut(MessageEvent)> = Closure::new(move |e: MessageEvent| {
            let Ok(buffer) = e.data().dyn_into::<js_sys::ArrayBuffer>() else {
                return; // text: the server never sends any
            };
            let bytes = Bytes::from(Uint8Array::new(&buffer).to_vec());
            with_current(&me, generation, |d, now| d.app.handle_frame(now, bytes));
        });
        let me = self.me.clone();
        let on_close: Closure<dyn FnMut(CloseEvent)> = Closure::new(move |e: CloseEvent| {
            let code = e.code();
            let reason = e.reason();
            with_current(&me, generation, |d, now| {
                d.socket = None;
                if code == 1006 {
                    // No close frame: refused, unreachable, or cut off.
                    d.app.handle_close(now, None, "connection failed or lost");
                } else {
                    d.app.handle_close(now, Some(code), &reason);
                }
            });
        });
        match Socket::open(url, on_open, on_message, on_close) {
            Ok(socket) => self.socket = Some(socket),
            Err(reason) => self.app.handle_close(now(), None, &reason),
        }
    }

    fn on_output(&mut self, output: Output<Browser>, actions: &mut Vec<Action>) {
        let settled = |d, result: Result<JsValue, _>| match result {
            Ok(value) => Action::Resolve(d, value),
            Err(f) => Action::Reject(d, Failure::from(f).to_js()),
        };
        let action = match output {
            Output::State(state) => return self.on_state(&state, actions),
            Output::Connected(first) => match self.me.upgrade() {
                Some(shared) => Action::Resolve(first, Client::from_shared(shared).into()),
                None => return,
            },
            Output::ConnectFailed(first, f) => settled(first, Err(f)),
            Output::Request(d, result) => settled(d, result.map(|()| JsValue::UNDEFINED)),
            Output::Published(d, result) => {
                let value = |(id, qos)| events::published(id, qos == Qos::AtLeastOnce);
                settled(d, result.map(value))
            }
            Output::Admin(d, result) => settled(d, result.map(|c| events::session_settings(&c))),
            Output::Deliver(m, callbacks) => {
                return deliver_message(&m, callbacks.iter().flatten(), actions);
            }
            Output::Receipt {
                id,
                status,
                delivered,
                failed,
            } => Action::Emit("receipt", events::receipt(id, status, delivered, failed)),
            Output::Restored { subscriptions } => {
                Action::Emit("restored", events::restored(subscriptions))
            }
            Output::SubscriptionLost { filter, error } => {
                let value = events::subscription_lost(filter.as_str(), &error);
                Action::Emit("subscriptionLost", value)
            }
            Output::Presence {
                filter,
                kind,
                members,
            } => Action::Emit("presence", events::presence(&filter, kind, &members)),
            Output::DeliveryRejected {
                topic,
                publisher,
                error,
                envelope,
            } => {
                let value = events::delivery_rejected(&topic, &publisher, &error, &envelope);
                Action::Emit("deliveryRejected", value)
            }
            Output::ServerError(e) => Action::Emit("error", Failure::from(&e).to_js()),
        };
        actions.push(action);
    }

    fn on_state(&mut self, state: &State, actions: &mut Vec<Action>) {
        actions.push(Action::Emit("state", events::state(state, now())));
        if let State::Closed { .. } = state {
            self.unwatch_network();
            // Dropped once this pump is over (the caller still holds its own handle).
            if let Some(me) = self.alive.take() {
                actions.push(Action::Release(me));
            }
            if let Some(id) = self.timer.take() {
                clear_timeout(&id);
            }
        }
    }

    fn rearm(&mut self) {
        if let Some(id) = self.timer.take() {
            clear_timeout(&id);
        }
        let Some(at) = self.app.poll_timeout() else {
            return;
        };
        let Some(handler) = &self.on_timer else {
            return;
        };
        let wait = at.saturating_duration_since(now());
        let ms = millis(wait).ceil();
        self.timer = Some(set_timeout(handler.as_ref().unchecked_ref(), ms));
    }
}

/// Hands a message to these subscription callbacks, then to the `message` listeners.
fn deliver_message<'a>(
    m: &CoreMessage,
    callbacks: impl Iterator<Item = &'a Function>,
    actions: &mut Vec<Action>,
) {
    let value = message::to_js(m);
    for f in callbacks {
        actions.push(Action::Deliver(f.clone(), value.clone()));
    }
    actions.push(Action::Emit("message", value));
}

/// Runs `f` on the driver if the socket of `generation` is still the current one, then
/// pumps.
fn with_current(me: &Weak<RefCell<Driver>>, generation: u64, f: impl FnOnce(&mut Driver, Instant)) {
    let Some(shared) = me.upgrade() else {
        return;
    };
    {
        let mut d = shared.borrow_mut();
        if d.generation != generation || d.socket.is_none() {
            return;
        }
        f(&mut d, now());
    }
    pump(&shared);
}

/// The pump: drains the core with the driver borrowed, then calls JavaScript with it
/// released, until nothing is left; then re-arms the timer.
pub(crate) fn pump(shared: &Shared) {
    loop {
        let mut actions = Vec::new();
        let listeners = {
            let mut d = shared.borrow_mut();
            d.drain(&mut actions);
            d.listeners.clone()
        };
        if actions.is_empty() {
            break;
        }
        for action in actions {
            match action {
                Action::Resolve(d, value) => d.resolve(&value),
                Action::Reject(d, value) => d.reject(&value),
                Action::Deliver(f, value) => deliver(&f, &value),
                Action::Release(me) => drop(me),
                Action::Emit(event, value) => listeners.emit(event, &value),
            }
        }
    }
    shared.borrow_mut().rearm();
}

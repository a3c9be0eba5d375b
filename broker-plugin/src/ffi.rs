//! The binding to Mosquitto 2's v5 plugin API: the exported `mosquitto_plugin_version`,
//! `mosquitto_plugin_init` and `mosquitto_plugin_cleanup`, the event callbacks, and hand-written
//! declarations of the few structs and broker functions they use, copied field for field from
//! Debian's Mosquitto 2.0.11 headers (`mosquitto_broker.h`, `mosquitto_plugin.h`; the v5 event
//! structs are fixed for 2.0.x, with `future` padding for later fields).
//!
//! This is the crate's only `unsafe` code. Rules it keeps:
//! - every callback body runs inside `catch_unwind`: no panic crosses into C; a panic denies;
//! - every pointer from the broker is checked for null before use, strings are read as bytes
//!   (`CStr::to_bytes`) and handed to [`Plugin`](crate::plugin::Plugin), which refuses non-UTF-8;
//! - the plugin's lock is never held while calling back into the broker (kicking a client makes
//!   Mosquitto call our disconnect callback on the same thread).

#![allow(unsafe_code)]

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Mutex, MutexGuard};
use std::time::SystemTime;

use crate::plugin::{Access, ExtAuth, Plugin};
use crate::sessions::ClientKey;

// `enum mosq_err_t` (mosquitto.h).
const MOSQ_ERR_SUCCESS: c_int = 0;
const MOSQ_ERR_INVAL: c_int = 3;
const MOSQ_ERR_NOT_SUPPORTED: c_int = 10;
const MOSQ_ERR_AUTH: c_int = 11;
const MOSQ_ERR_ACL_DENIED: c_int = 12;
const MOSQ_ERR_UNKNOWN: c_int = 13;

// `enum mosquitto_plugin_event` (mosquitto_broker.h).
const MOSQ_EVT_ACL_CHECK: c_int = 2;
const MOSQ_EVT_BASIC_AUTH: c_int = 3;
const MOSQ_EVT_EXT_AUTH_START: c_int = 4;
const MOSQ_EVT_EXT_AUTH_CONTINUE: c_int = 5;
const MOSQ_EVT_TICK: c_int = 9;
const MOSQ_EVT_DISCONNECT: c_int = 10;

// Log levels (mosquitto.h).
const MOSQ_LOG_INFO: c_int = 1 << 0;
const MOSQ_LOG_NOTICE: c_int = 1 << 1;
const MOSQ_LOG_ERR: c_int = 1 << 3;

/// The plugin API version this plugin implements.
const PLUGIN_API_VERSION: c_int = 5;

/// `struct mosquitto`: a client context, opaque.
#[repr(C)]
pub struct Mosquitto {
    _opaque: [u8; 0],
}

/// `mosquitto_plugin_id_t`: the broker's handle on this plugin, opaque.
#[repr(C)]
pub struct PluginId {
    _opaque: [u8; 0],
}

/// `struct mosquitto_opt`: one `plugin_opt_<key> <value>` line.
#[repr(C)]
pub struct MosquittoOpt {
    key: *mut c_char,
    value: *mut c_char,
}

/// `struct mosquitto_evt_acl_check`.
#[repr(C)]
struct EvtAclCheck {
    future: *mut c_void,
    client: *mut Mosquitto,
    topic: *const c_char,
    payload: *const c_void,
    properties: *mut c_void,
    access: c_int,
    payloadlen: u32,
    qos: u8,
    retain: bool,
    future2: [*mut c_void; 4],
}

/// `struct mosquitto_evt_basic_auth`.
#[repr(C)]
struct EvtBasicAuth {
    future: *mut c_void,
    client: *mut Mosquitto,
    username: *mut c_char,
    password: *mut c_char,
    future2: [*mut c_void; 4],
}

/// `struct mosquitto_evt_extended_auth`.
#[repr(C)]
struct EvtExtendedAuth {
    future: *mut c_void,
    client: *mut Mosquitto,
    data_in: *const c_void,
    data_out: *mut c_void,
    data_in_len: u16,
    data_out_len: u16,
    auth_method: *const c_char,
    future2: [*mut c_void; 3],
}

/// `struct mosquitto_evt_disconnect`.
#[repr(C)]
struct EvtDisconnect {
    future: *mut c_void,
    client: *mut Mosquitto,
    reason: c_int,
    future2: [*mut c_void; 4],
}

/// `MOSQ_FUNC_generic_callback`.
type Callback = extern "C" fn(c_int, *mut c_void, *mut c_void) -> c_int;

// Provided by the mosquitto executable that loads the plugin (it exports them, see Mosquitto's
// src/linker.syms), so the cdylib links with them unresolved.
extern "C" {
    fn mosquitto_callback_register(
        identifier: *mut PluginId,
        event: c_int,
        cb_func: Callback,
        event_data: *const c_void,
        userdata: *mut c_void,
    ) -> c_int;
    fn mosquitto_callback_unregister(
        identifier: *mut PluginId,
        event: c_int,
        cb_func: Callback,
        event_data: *const c_void,
    ) -> c_int;
    fn mosquitto_client_id(client: *const Mosquitto) -> *const c_char;
    fn mosquitto_client_username(client: *const Mosquitto) -> *const c_char;
    fn mosquitto_kick_client_by_clientid(clientid: *const c_char, with_will: bool) -> c_int;
}

// Variadic, so the unit tests' fake broker (which defines the functions above) cannot define
// it: under `cfg(test)` the log goes to the fake's buffer instead.
#[cfg(not(test))]
extern "C" {
    fn mosquitto_log_printf(level: c_int, fmt: *const c_char, ...);
}

/// The events this plugin handles, and their callbacks.
const CALLBACKS: [(c_int, Callback); 6] = [
    (MOSQ_EVT_BASIC_AUTH, on_basic_auth),
    (MOSQ_EVT_EXT_AUTH_START, on_ext_auth_start),
    (MOSQ_EVT_EXT_AUTH_CONTINUE, on_ext_auth_continue),
    (MOSQ_EVT_ACL_CHECK, on_acl_check),
    (MOSQ_EVT_DISCONNECT, on_disconnect),
    (MOSQ_EVT_TICK, on_tick),
];

/// What `userdata` points to between init and cleanup.
struct State {
    id: *mut PluginId,
    plugin: Mutex<Plugin>,
}

impl State {
    /// The plugin, even after a panic poisoned the lock (every decision still starts from the
    /// stored grants, and a missing grant denies).
    fn lock(&self) -> MutexGuard<'_, Plugin> {
        self.plugin.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Writes `message` to Mosquitto's log (as a `%s` argument: never a format string).
#[cfg(not(test))]
fn log(level: c_int, message: &str) {
    let text = CString::new(message.replace('\0', " ")).unwrap_or_default();
    // SAFETY: the format is a NUL-terminated literal taking one string, and `text` is a valid
    // NUL-terminated string that lives across the call.
    unsafe { mosquitto_log_printf(level, c"jamey-mqtt-auth: %s".as_ptr(), text.as_ptr()) }
}

#[cfg(test)]
fn log(level: c_int, message: &str) {
    tests::fake_log(level, message);
}

/// Runs a callback body; a panic is logged and answered with `on_panic`.
fn guarded(what: &str, on_panic: c_int, body: impl FnOnce() -> c_int) -> c_int {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(rc) => rc,
        Err(_) => {
            log(MOSQ_LOG_ERR, &format!("{what} panicked; denied"));
            on_panic
        }
    }
}

/// The `State` behind a callback's userdata.
///
/// # Safety
/// `userdata` is null or the pointer `mosquitto_plugin_init` registered, which stays valid
/// until `mosquitto_plugin_cleanup` unregisters every callback.
unsafe fn state<'a>(userdata: *mut c_void) -> Option<&'a State> {
    // SAFETY: per the contract above; `as_ref` turns null into `None`.
    unsafe { userdata.cast::<State>().as_ref() }
}

/// The event struct behind a callback's `event_data`.
///
/// # Safety
/// `event_data` is null or points to the `T` Mosquitto passes for this event, valid for the call.
unsafe fn event<'a, T>(event_data: *mut c_void) -> Option<&'a mut T> {
    // SAFETY: per the contract above; `as_mut` turns null into `None`.
    unsafe { event_data.cast::<T>().as_mut() }
}

/// The bytes of a C string, `None` for null.
///
/// # Safety
/// `s` is null or a NUL-terminated string that outlives the returned slice (the callback).
unsafe fn bytes<'a>(s: *const c_char) -> Option<&'a [u8]> {
    // SAFETY: per the contract above, checked for null first.
    (!s.is_null()).then(|| unsafe { CStr::from_ptr(s) }.to_bytes())
}

/// A client's id, `None` for a null client or id.
///
/// # Safety
/// `client` is null or a live context for the duration of the callback.
unsafe fn client_id<'a>(client: *const Mosquitto) -> Option<&'a [u8]> {
    if client.is_null() {
        return None;
    }
    // SAFETY: a live context; the broker returns its NUL-terminated id (or null), owned by the
    // context for the duration of the callback.
    unsafe { bytes(mosquitto_client_id(client)) }
}

fn key(client: *const Mosquitto) -> ClientKey {
    ClientKey(client as usize)
}

fn show(id: Option<&[u8]>) -> String {
    String::from_utf8_lossy(id.unwrap_or(b"(no client id)")).into_owned()
}

extern "C" fn on_basic_auth(
    _event: c_int,
    event_data: *mut c_void,
    userdata: *mut c_void,
) -> c_int {
    guarded("basic auth", MOSQ_ERR_AUTH, || {
        // SAFETY: Mosquitto passes our registered userdata and, for MOSQ_EVT_BASIC_AUTH, a
        // `mosquitto_evt_basic_auth` valid for the call.
        let (Some(state), Some(ev)) = (unsafe { state(userdata) }, unsafe {
            event::<EvtBasicAuth>(event_data)
        }) else {
            return MOSQ_ERR_AUTH;
        };
        if ev.client.is_null() {
            return MOSQ_ERR_AUTH;
        }
        // SAFETY: the context is live and its strings (null or NUL-terminated) are owned by it
        // for the call.
        let (id, username, password) =
            unsafe { (client_id(ev.client), bytes(ev.username), bytes(ev.password)) };
        let result =
            state
                .lock()
                .basic_auth(key(ev.client), id, username, password, SystemTime::now());
        match result {
            Ok(()) => MOSQ_ERR_SUCCESS,
            Err(refusal) => {
                log(
                    MOSQ_LOG_NOTICE,
                    &format!("refused client {}: {refusal}", show(id)),
                );
                MOSQ_ERR_AUTH
            }
        }
    })
}

extern "C" fn on_ext_auth_start(
    _event: c_int,
    event_data: *mut c_void,
    userdata: *mut c_void,
) -> c_int {
    guarded("extended auth", MOSQ_ERR_AUTH, || {
        // SAFETY: our userdata and, for MOSQ_EVT_EXT_AUTH_START, a `mosquitto_evt_extended_auth`
        // valid for the call.
        let (Some(state), Some(ev)) = (unsafe { state(userdata) }, unsafe {
            event::<EvtExtendedAuth>(event_data)
        }) else {
            return MOSQ_ERR_AUTH;
        };
        if ev.client.is_null() {
            return MOSQ_ERR_AUTH;
        }
        // SAFETY: the method and username are null or NUL-terminated strings owned by the live
        // context; `data_in` is null or `data_in_len` bytes owned by the broker for the call.
        let (id, method, username, data) = unsafe {
            (
                client_id(ev.client),
                bytes(ev.auth_method),
                bytes(mosquitto_client_username(ev.client)),
                (!ev.data_in.is_null()).then(|| {
                    std::slice::from_raw_parts(ev.data_in.cast::<u8>(), usize::from(ev.data_in_len))
                }),
            )
        };
        let answer = state.lock().ext_auth_start(
            key(ev.client),
            id,
            method,
            data,
            username,
            SystemTime::now(),
        );
        match answer {
            ExtAuth::Accepted => MOSQ_ERR_SUCCESS,
            ExtAuth::NotSupported => MOSQ_ERR_NOT_SUPPORTED,
            ExtAuth::Refused(refusal) => {
                log(
                    MOSQ_LOG_NOTICE,
                    &format!("refused authentication of client {}: {refusal}", show(id)),
                );
                MOSQ_ERR_AUTH
            }
        }
    })
}

extern "C" fn on_ext_auth_continue(
    _event: c_int,
    _event_data: *mut c_void,
    userdata: *mut c_void,
) -> c_int {
    guarded("extended auth continue", MOSQ_ERR_AUTH, || {
        // SAFETY: our registered userdata.
        let Some(state) = (unsafe { state(userdata) }) else {
            return MOSQ_ERR_AUTH;
        };
        match state.lock().ext_auth_continue() {
            ExtAuth::Accepted => MOSQ_ERR_SUCCESS,
            ExtAuth::NotSupported => MOSQ_ERR_NOT_SUPPORTED,
            ExtAuth::Refused(refusal) => {
                log(
                    MOSQ_LOG_NOTICE,
                    &format!("refused authentication: {refusal}"),
                );
                MOSQ_ERR_AUTH
            }
        }
    })
}

extern "C" fn on_acl_check(_event: c_int, event_data: *mut c_void, userdata: *mut c_void) -> c_int {
    guarded("ACL check", MOSQ_ERR_ACL_DENIED, || {
        // SAFETY: our userdata and, for MOSQ_EVT_ACL_CHECK, a `mosquitto_evt_acl_check` valid
        // for the call.
        let (Some(state), Some(ev)) = (unsafe { state(userdata) }, unsafe {
            event::<EvtAclCheck>(event_data)
        }) else {
            return MOSQ_ERR_ACL_DENIED;
        };
        if ev.client.is_null() {
            return MOSQ_ERR_ACL_DENIED;
        }
        // SAFETY: the topic is null or a NUL-terminated string the broker owns for the call.
        let (id, topic) = unsafe { (client_id(ev.client), bytes(ev.topic)) };
        let allowed = state.lock().acl_check(
            key(ev.client),
            id,
            Access::from_mosquitto(ev.access),
            topic,
            SystemTime::now(),
        );
        if allowed {
            MOSQ_ERR_SUCCESS
        } else {
            MOSQ_ERR_ACL_DENIED
        }
    })
}

extern "C" fn on_disconnect(
    _event: c_int,
    event_data: *mut c_void,
    userdata: *mut c_void,
) -> c_int {
    guarded("disconnect", MOSQ_ERR_SUCCESS, || {
        // SAFETY: our userdata and, for MOSQ_EVT_DISCONNECT, a `mosquitto_evt_disconnect` valid
        // for the call.
        if let (Some(state), Some(ev)) = (unsafe { state(userdata) }, unsafe {
            event::<EvtDisconnect>(event_data)
        }) {
            if !ev.client.is_null() {
                state.lock().disconnected(key(ev.client));
            }
        }
        MOSQ_ERR_SUCCESS
    })
}

extern "C" fn on_tick(_event: c_int, _event_data: *mut c_void, userdata: *mut c_void) -> c_int {
    guarded("tick", MOSQ_ERR_SUCCESS, || {
        // SAFETY: our registered userdata.
        let Some(state) = (unsafe { state(userdata) }) else {
            return MOSQ_ERR_SUCCESS;
        };
        // The lock is released before kicking: the kick re-enters `on_disconnect`.
        let expired = state.lock().tick(SystemTime::now());
        for id in expired {
            log(
                MOSQ_LOG_NOTICE,
                &format!("token of client {id} expired; disconnecting it"),
            );
            let Ok(c_id) = CString::new(id) else { continue };
            // SAFETY: a NUL-terminated id that lives across the call; the broker looks it up
            // and does nothing if that client is gone.
            unsafe { mosquitto_kick_client_by_clientid(c_id.as_ptr(), false) };
        }
        MOSQ_ERR_SUCCESS
    })
}

/// Mosquitto asks which plugin API versions this plugin speaks: 5 only.
///
/// # Safety
/// `supported_versions` is null or points to `supported_version_count` ints (as Mosquitto
/// passes them).
#[no_mangle]
pub unsafe extern "C" fn mosquitto_plugin_version(
    supported_version_count: c_int,
    supported_versions: *const c_int,
) -> c_int {
    guarded("version", -1, || {
        let count = usize::try_from(supported_version_count).unwrap_or(0);
        if supported_versions.is_null() || count == 0 {
            return -1;
        }
        // SAFETY: non-null, `count` ints per the contract above.
        let versions = unsafe { std::slice::from_raw_parts(supported_versions, count) };
        if versions.contains(&PLUGIN_API_VERSION) {
            PLUGIN_API_VERSION
        } else {
            -1
        }
    })
}

/// Reads the options; the error names the problem (never a value).
///
/// # Safety
/// `options` is null or points to `count` `mosquitto_opt`s whose strings are null or
/// NUL-terminated, valid for the call.
unsafe fn read_options(
    options: *const MosquittoOpt,
    count: c_int,
) -> Result<Vec<(String, String)>, String> {
    let count = usize::try_from(count).unwrap_or(0);
    if options.is_null() || count == 0 {
        return Ok(Vec::new());
    }
    // SAFETY: non-null, `count` entries per the contract above.
    let options = unsafe { std::slice::from_raw_parts(options, count) };
    options
        .iter()
        .map(|o| {
            // SAFETY: each string is null or NUL-terminated per the contract above.
            let (k, v) = unsafe { (bytes(o.key), bytes(o.value)) };
            let k = k.ok_or("an option without a name")?;
            let k = std::str::from_utf8(k).map_err(|_| "an option name is not UTF-8")?;
            let v = v.ok_or_else(|| format!("option `{k}` has no value"))?;
            let v = std::str::from_utf8(v).map_err(|_| format!("option `{k}` is not UTF-8"))?;
            Ok((k.to_owned(), v.to_owned()))
        })
        .collect()
}

/// Mosquitto loads the plugin: read the options, register the callbacks. A bad option is
/// logged and refuses the load (Mosquitto then does not start).
///
/// # Safety
/// Called by Mosquitto as its v5 plugin API says: `identifier` and `userdata` valid, `options`
/// as in [`read_options`].
#[no_mangle]
pub unsafe extern "C" fn mosquitto_plugin_init(
    identifier: *mut PluginId,
    userdata: *mut *mut c_void,
    options: *mut MosquittoOpt,
    option_count: c_int,
) -> c_int {
    guarded("init", MOSQ_ERR_UNKNOWN, || {
        if identifier.is_null() || userdata.is_null() {
            return MOSQ_ERR_INVAL;
        }
        // SAFETY: per this function's contract.
        let options = match unsafe { read_options(options, option_count) } {
            Ok(o) => o,
            Err(e) => {
                log(MOSQ_LOG_ERR, &e);
                return MOSQ_ERR_INVAL;
            }
        };
        let plugin = match Plugin::new(&options) {
            Ok(p) => p,
            Err(e) => {
                log(MOSQ_LOG_ERR, &e.to_string());
                return MOSQ_ERR_INVAL;
            }
        };
        let state = Box::into_raw(Box::new(State {
            id: identifier,
            plugin: Mutex::new(plugin),
        }));
        for (done, (event, callback)) in CALLBACKS.iter().enumerate() {
            // SAFETY: a valid identifier; `state` stays alive until cleanup unregisters.
            let rc = unsafe {
                mosquitto_callback_register(
                    identifier,
                    *event,
                    *callback,
                    std::ptr::null(),
                    state.cast(),
                )
            };
            if rc != MOSQ_ERR_SUCCESS {
                log(
                    MOSQ_LOG_ERR,
                    &format!("registering event {event} failed ({rc})"),
                );
                for (event, callback) in &CALLBACKS[..done] {
                    // SAFETY: undoing a registration made above with the same arguments.
                    unsafe {
                        mosquitto_callback_unregister(
                            identifier,
                            *event,
                            *callback,
                            std::ptr::null(),
                        )
                    };
                }
                // SAFETY: from `Box::into_raw` above, no callback refers to it any more.
                drop(unsafe { Box::from_raw(state) });
                return rc;
            }
        }
        // SAFETY: `userdata` is non-null and writable per this function's contract.
        unsafe { *userdata = state.cast() };
        log(
            MOSQ_LOG_INFO,
            "loaded (basic auth, extended auth method JWT, ACL)",
        );
        MOSQ_ERR_SUCCESS
    })
}

/// Mosquitto unloads the plugin: unregister the callbacks, free the state.
///
/// # Safety
/// `userdata` is null or the pointer `mosquitto_plugin_init` stored.
#[no_mangle]
pub unsafe extern "C" fn mosquitto_plugin_cleanup(
    userdata: *mut c_void,
    _options: *mut MosquittoOpt,
    _option_count: c_int,
) -> c_int {
    guarded("cleanup", MOSQ_ERR_SUCCESS, || {
        if userdata.is_null() {
            return MOSQ_ERR_SUCCESS;
        }
        let state = userdata.cast::<State>();
        // SAFETY: `state` came from `Box::into_raw` in init; no callback runs during cleanup.
        let id = unsafe { (*state).id };
        for (event, callback) in &CALLBACKS {
            // SAFETY: removing the registrations init made with these arguments.
            unsafe { mosquitto_callback_unregister(id, *event, *callback, std::ptr::null()) };
        }
        // SAFETY: every callback is unregistered: nothing refers to the state any more.
        drop(unsafe { Box::from_raw(state) });
        MOSQ_ERR_SUCCESS
    })
}

/// The binding driven by a fake broker: the broker functions are defined here (the test
/// executable has no Mosquitto to resolve them), and the events are built as Mosquitto builds
/// them, with null pointers and non-UTF-8 bytes where a broker or client could put them.
#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::time::{Duration, Instant, SystemTime};

    use jamey_mqtt_auth::{Algorithm, ClaimTemplate, JwtSigner, PermissionClaims};

    use super::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    /// A client context of the fake broker: `*mut Mosquitto` points to one of these.
    struct FakeClient {
        id: CString,
        username: Option<CString>,
    }

    #[derive(Default)]
    struct Fake {
        registered: Vec<(c_int, Callback, *mut c_void)>,
        unregistered: usize,
        kicked: Vec<String>,
        clients: Vec<*mut FakeClient>,
        log: Vec<String>,
    }

    thread_local! {
        static FAKE: RefCell<Fake> = RefCell::new(Fake::default());
    }

    pub(super) fn fake_log(_level: c_int, message: &str) {
        FAKE.with(|f| f.borrow_mut().log.push(message.to_owned()));
    }

    #[no_mangle]
    extern "C" fn mosquitto_callback_register(
        _identifier: *mut PluginId,
        event: c_int,
        cb_func: Callback,
        _event_data: *const c_void,
        userdata: *mut c_void,
    ) -> c_int {
        FAKE.with(|f| f.borrow_mut().registered.push((event, cb_func, userdata)));
        MOSQ_ERR_SUCCESS
    }

    #[no_mangle]
    extern "C" fn mosquitto_callback_unregister(
        _identifier: *mut PluginId,
        _event: c_int,
        _cb_func: Callback,
        _event_data: *const c_void,
    ) -> c_int {
        FAKE.with(|f| f.borrow_mut().unregistered += 1);
        MOSQ_ERR_SUCCESS
    }

    #[no_mangle]
    extern "C" fn mosquitto_client_id(client: *const Mosquitto) -> *const c_char {
        // SAFETY: the tests only pass pointers made by `client()`, alive for the test.
        unsafe { (*client.cast::<FakeClient>()).id.as_ptr() }
    }

    #[no_mangle]
    extern "C" fn mosquitto_client_username(client: *const Mosquitto) -> *const c_char {
        // SAFETY: as above.
        let client = unsafe { &*client.cast::<FakeClient>() };
        client
            .username
            .as_ref()
            .map_or(std::ptr::null(), |u| u.as_ptr())
    }

    /// Kicks like Mosquitto does: the disconnect callback runs before this returns, on the
    /// same thread (a plugin holding its lock across the kick would deadlock here).
    #[no_mangle]
    extern "C" fn mosquitto_kick_client_by_clientid(
        clientid: *const c_char,
        _with_will: bool,
    ) -> c_int {
        // SAFETY: the plugin passes a NUL-terminated id.
        let id = unsafe { CStr::from_ptr(clientid) }
            .to_string_lossy()
            .into_owned();
        let (client, callback) = FAKE.with(|f| {
            let f = f.borrow();
            let client = f.clients.iter().copied().find(|c| {
                // SAFETY: live fake clients.
                unsafe { (**c).id.to_string_lossy() == id }
            });
            let callback = f
                .registered
                .iter()
                .find(|(e, _, _)| *e == MOSQ_EVT_DISCONNECT)
                .map(|(_, cb, ud)| (*cb, *ud));
            (client, callback)
        });
        FAKE.with(|f| f.borrow_mut().kicked.push(id));
        if let (Some(client), Some((cb, userdata))) = (client, callback) {
            let mut ev = EvtDisconnect {
                future: std::ptr::null_mut(),
                client: client.cast(),
                reason: -1,
                future2: [std::ptr::null_mut(); 4],
            };
            cb(
                MOSQ_EVT_DISCONNECT,
                (&mut ev as *mut EvtDisconnect).cast(),
                userdata,
            );
        }
        MOSQ_ERR_SUCCESS
    }

    fn client(id: &str, username: Option<&str>) -> *mut Mosquitto {
        let c = Box::into_raw(Box::new(FakeClient {
            id: CString::new(id).unwrap(),
            username: username.map(|u| CString::new(u).unwrap()),
        }));
        FAKE.with(|f| f.borrow_mut().clients.push(c));
        c.cast()
    }

    fn callback(event: c_int) -> (Callback, *mut c_void) {
        FAKE.with(|f| {
            f.borrow()
                .registered
                .iter()
                .find(|(e, _, _)| *e == event)
                .map(|(_, cb, ud)| (*cb, *ud))
                .expect("callback registered")
        })
    }

    fn logged(needle: &str) -> bool {
        FAKE.with(|f| f.borrow().log.iter().any(|l| l.contains(needle)))
    }

    /// Loads the plugin with `options` through `mosquitto_plugin_init`.
    fn init(options: &[(&str, &str)]) -> (c_int, *mut c_void) {
        let strings: Vec<(CString, CString)> = options
            .iter()
            .map(|(k, v)| (CString::new(*k).unwrap(), CString::new(*v).unwrap()))
            .collect();
        let mut opts: Vec<MosquittoOpt> = strings
            .iter()
            .map(|(k, v)| MosquittoOpt {
                key: k.as_ptr().cast_mut(),
                value: v.as_ptr().cast_mut(),
            })
            .collect();
        let mut id = [0u8; 8];
        let mut userdata: *mut c_void = std::ptr::null_mut();
        // SAFETY: valid identifier storage, userdata slot and options, as Mosquitto passes them.
        let rc = unsafe {
            mosquitto_plugin_init(
                id.as_mut_ptr().cast(),
                &mut userdata,
                opts.as_mut_ptr(),
                opts.len() as c_int,
            )
        };
        (rc, userdata)
    }

    fn token(ttl: u64) -> String {
        let template = ClaimTemplate::new("dev", Duration::from_secs(ttl)).with_permissions(
            PermissionClaims {
                publish: vec!["out/#".into()],
                subscribe: vec![],
            },
        );
        JwtSigner::from_secret(Algorithm::HS256, SECRET.as_bytes(), template)
            .unwrap()
            .sign(SystemTime::now())
            .unwrap()
            .expose()
            .to_owned()
    }

    fn basic_auth(
        client: *mut Mosquitto,
        username: *const c_char,
        password: *const c_char,
    ) -> c_int {
        let (cb, userdata) = callback(MOSQ_EVT_BASIC_AUTH);
        let mut ev = EvtBasicAuth {
            future: std::ptr::null_mut(),
            client,
            username: username.cast_mut(),
            password: password.cast_mut(),
            future2: [std::ptr::null_mut(); 4],
        };
        cb(
            MOSQ_EVT_BASIC_AUTH,
            (&mut ev as *mut EvtBasicAuth).cast(),
            userdata,
        )
    }

    fn acl(client: *mut Mosquitto, access: c_int, topic: *const c_char) -> c_int {
        let (cb, userdata) = callback(MOSQ_EVT_ACL_CHECK);
        let mut ev = EvtAclCheck {
            future: std::ptr::null_mut(),
            client,
            topic,
            payload: std::ptr::null(),
            properties: std::ptr::null_mut(),
            access,
            payloadlen: 0,
            qos: 1,
            retain: false,
            future2: [std::ptr::null_mut(); 4],
        };
        cb(
            MOSQ_EVT_ACL_CHECK,
            (&mut ev as *mut EvtAclCheck).cast(),
            userdata,
        )
    }

    fn ext_auth(client: *mut Mosquitto, method: *const c_char, data: Option<&[u8]>) -> c_int {
        let (cb, userdata) = callback(MOSQ_EVT_EXT_AUTH_START);
        let mut ev = EvtExtendedAuth {
            future: std::ptr::null_mut(),
            client,
            data_in: data.map_or(std::ptr::null(), |d| d.as_ptr().cast()),
            data_out: std::ptr::null_mut(),
            data_in_len: data.map_or(0, |d| d.len() as u16),
            data_out_len: 0,
            auth_method: method,
            future2: [std::ptr::null_mut(); 3],
        };
        cb(
            MOSQ_EVT_EXT_AUTH_START,
            (&mut ev as *mut EvtExtendedAuth).cast(),
            userdata,
        )
    }

    #[test]
    fn the_plugin_speaks_api_version_5_only() {
        let all = [5, 4, 3, 2];
        // SAFETY: a valid array and its length, or null with zero.
        unsafe {
            assert_eq!(mosquitto_plugin_version(4, all.as_ptr()), 5);
            assert_eq!(mosquitto_plugin_version(1, [4].as_ptr()), -1);
            assert_eq!(mosquitto_plugin_version(0, std::ptr::null()), -1);
            assert_eq!(mosquitto_plugin_version(3, std::ptr::null()), -1);
        }
    }

    #[test]
    fn bad_options_refuse_the_load_and_register_nothing() {
        let (rc, userdata) = init(&[("secret", SECRET), ("bogus", "1")]);
        assert_eq!(rc, MOSQ_ERR_INVAL);
        assert!(userdata.is_null());
        assert!(logged("unknown option `plugin_opt_bogus`"));
        assert!(FAKE.with(|f| f.borrow().registered.is_empty()));
        let mut userdata: *mut c_void = std::ptr::null_mut();
        // SAFETY: a null identifier is refused before anything is read.
        let rc = unsafe {
            mosquitto_plugin_init(std::ptr::null_mut(), &mut userdata, std::ptr::null_mut(), 0)
        };
        assert_eq!(rc, MOSQ_ERR_INVAL);
    }

    #[test]
    fn malformed_events_are_denied_and_valid_ones_decided() {
        let (rc, userdata) = init(&[("secret", SECRET)]);
        assert_eq!(rc, MOSQ_ERR_SUCCESS);
        assert_eq!(FAKE.with(|f| f.borrow().registered.len()), CALLBACKS.len());
        let dev = client("dev-1", Some("dev"));
        let t = CString::new(token(60)).unwrap();
        let user = c"dev";

        // Null event, null client, null userdata: denied, nothing read.
        let (cb, ud) = callback(MOSQ_EVT_BASIC_AUTH);
        assert_eq!(
            cb(MOSQ_EVT_BASIC_AUTH, std::ptr::null_mut(), ud),
            MOSQ_ERR_AUTH
        );
        assert_eq!(
            basic_auth(std::ptr::null_mut(), user.as_ptr(), t.as_ptr()),
            MOSQ_ERR_AUTH
        );
        let (acl_cb, _) = callback(MOSQ_EVT_ACL_CHECK);
        assert_eq!(
            acl_cb(
                MOSQ_EVT_ACL_CHECK,
                std::ptr::null_mut(),
                std::ptr::null_mut()
            ),
            MOSQ_ERR_ACL_DENIED
        );
        // No password, a non-UTF-8 password: refused and logged, no panic.
        assert_eq!(
            basic_auth(dev, user.as_ptr(), std::ptr::null()),
            MOSQ_ERR_AUTH
        );
        let binary = c"\xff\xfe\x80";
        assert_eq!(
            basic_auth(dev, user.as_ptr(), binary.as_ptr()),
            MOSQ_ERR_AUTH
        );
        assert!(logged("refused client dev-1: the token is not UTF-8"));
        assert_eq!(
            acl(dev, 2, c"out/a".as_ptr()),
            MOSQ_ERR_ACL_DENIED,
            "not authenticated"
        );

        assert_eq!(basic_auth(dev, user.as_ptr(), t.as_ptr()), MOSQ_ERR_SUCCESS);
        assert_eq!(acl(dev, 2, c"out/a".as_ptr()), MOSQ_ERR_SUCCESS);
        assert_eq!(acl(dev, 2, c"in/a".as_ptr()), MOSQ_ERR_ACL_DENIED);
        assert_eq!(acl(dev, 2, std::ptr::null()), MOSQ_ERR_ACL_DENIED);
        assert_eq!(acl(dev, 2, c"out/\xff".as_ptr()), MOSQ_ERR_ACL_DENIED);
        assert_eq!(
            acl(dev, 3, c"out/a".as_ptr()),
            MOSQ_ERR_ACL_DENIED,
            "unknown access"
        );
        assert_eq!(
            acl(std::ptr::null_mut(), 2, c"out/a".as_ptr()),
            MOSQ_ERR_ACL_DENIED
        );

        // Extended auth: our method with the token, another method, no data.
        let v5 = client("dev-5", None);
        assert_eq!(
            ext_auth(v5, c"JWT".as_ptr(), Some(t.as_bytes())),
            MOSQ_ERR_SUCCESS
        );
        assert_eq!(acl(v5, 2, c"out/b".as_ptr()), MOSQ_ERR_SUCCESS);
        assert_eq!(
            ext_auth(v5, c"SCRAM-SHA-1".as_ptr(), Some(t.as_bytes())),
            MOSQ_ERR_NOT_SUPPORTED
        );
        assert_eq!(
            ext_auth(v5, std::ptr::null(), Some(t.as_bytes())),
            MOSQ_ERR_NOT_SUPPORTED
        );
        assert_eq!(ext_auth(v5, c"JWT".as_ptr(), None), MOSQ_ERR_AUTH);
        assert_eq!(
            ext_auth(v5, c"JWT".as_ptr(), Some(&[0xff, 0x00, 0x80])),
            MOSQ_ERR_AUTH
        );
        let (cont, ud) = callback(MOSQ_EVT_EXT_AUTH_CONTINUE);
        assert_eq!(
            cont(MOSQ_EVT_EXT_AUTH_CONTINUE, std::ptr::null_mut(), ud),
            MOSQ_ERR_AUTH
        );

        // SAFETY: the pointer init stored; every callback is unregistered by it.
        let rc = unsafe { mosquitto_plugin_cleanup(userdata, std::ptr::null_mut(), 0) };
        assert_eq!(rc, MOSQ_ERR_SUCCESS);
        assert_eq!(FAKE.with(|f| f.borrow().unregistered), CALLBACKS.len());
    }

    #[test]
    fn an_expired_client_is_kicked_on_a_tick_and_the_reentrant_disconnect_does_not_deadlock() {
        let (rc, userdata) = init(&[("secret", SECRET)]);
        assert_eq!(rc, MOSQ_ERR_SUCCESS);
        let dev = client("short", Some("dev"));
        // Whole-second times: a 1 s token runs out within a second.
        let t = CString::new(token(1)).unwrap();
        assert_eq!(
            basic_auth(dev, c"dev".as_ptr(), t.as_ptr()),
            MOSQ_ERR_SUCCESS
        );
        let (tick, ud) = callback(MOSQ_EVT_TICK);
        let deadline = Instant::now() + Duration::from_secs(10);
        while FAKE.with(|f| f.borrow().kicked.is_empty()) {
            assert!(Instant::now() < deadline, "never kicked");
            assert_eq!(
                tick(MOSQ_EVT_TICK, std::ptr::null_mut(), ud),
                MOSQ_ERR_SUCCESS
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(FAKE.with(|f| f.borrow().kicked.clone()), ["short"]);
        assert!(logged("token of client short expired; disconnecting it"));
        assert_eq!(acl(dev, 2, c"out/a".as_ptr()), MOSQ_ERR_ACL_DENIED);
        // Kicked once.
        assert_eq!(
            tick(MOSQ_EVT_TICK, std::ptr::null_mut(), ud),
            MOSQ_ERR_SUCCESS
        );
        assert_eq!(FAKE.with(|f| f.borrow().kicked.len()), 1);
        // SAFETY: the pointer init stored.
        unsafe { mosquitto_plugin_cleanup(userdata, std::ptr::null_mut(), 0) };
    }

    #[test]
    fn a_panic_inside_a_callback_is_caught_and_answered() {
        assert_eq!(
            guarded("test", MOSQ_ERR_ACL_DENIED, || panic!("boom")),
            MOSQ_ERR_ACL_DENIED
        );
        assert!(logged("test panicked; denied"));
    }
}

//! The binding to Mosquitto 2's v5 plugin API: the exported `mosquitto_plugin_version`,
//! `mosquitto_plugin_init` and `mosquitto_plugin_cleanup`, and the event callbacks, over the
//! hand-written declarations of `abi` (see Cargo.toml for why not the `mosquitto-plugin` crate).
//!
//! This module and `abi` hold the crate's only `unsafe` code. Rules it keeps:
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

mod abi;

use abi::*;

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

#[cfg(test)]
mod tests;

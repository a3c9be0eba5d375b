//! Mosquitto 2.0's v5 plugin ABI, declared by hand: the return codes, event numbers and log
//! levels, the event structs this plugin reads (field for field from Debian's 2.0.11
//! `mosquitto_broker.h` and `mosquitto_plugin.h`; fixed for 2.0.x, with `future` padding for
//! later fields), and the broker functions it calls. Declarations only; `super` uses them.

#![allow(unsafe_code)]

use std::ffi::{c_char, c_int, c_void};

// `enum mosq_err_t` (mosquitto.h).
pub(super) const MOSQ_ERR_SUCCESS: c_int = 0;
pub(super) const MOSQ_ERR_INVAL: c_int = 3;
pub(super) const MOSQ_ERR_NOT_SUPPORTED: c_int = 10;
pub(super) const MOSQ_ERR_AUTH: c_int = 11;
pub(super) const MOSQ_ERR_ACL_DENIED: c_int = 12;
pub(super) const MOSQ_ERR_UNKNOWN: c_int = 13;

// `enum mosquitto_plugin_event` (mosquitto_broker.h).
pub(super) const MOSQ_EVT_ACL_CHECK: c_int = 2;
pub(super) const MOSQ_EVT_BASIC_AUTH: c_int = 3;
pub(super) const MOSQ_EVT_EXT_AUTH_START: c_int = 4;
pub(super) const MOSQ_EVT_EXT_AUTH_CONTINUE: c_int = 5;
pub(super) const MOSQ_EVT_TICK: c_int = 9;
pub(super) const MOSQ_EVT_DISCONNECT: c_int = 10;

// Log levels (mosquitto.h).
pub(super) const MOSQ_LOG_INFO: c_int = 1 << 0;
pub(super) const MOSQ_LOG_NOTICE: c_int = 1 << 1;
pub(super) const MOSQ_LOG_ERR: c_int = 1 << 3;

/// The plugin API version this plugin implements.
pub(super) const PLUGIN_API_VERSION: c_int = 5;

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
    pub(super) key: *mut c_char,
    pub(super) value: *mut c_char,
}

/// `struct mosquitto_evt_acl_check`.
#[repr(C)]
pub(super) struct EvtAclCheck {
    pub(super) future: *mut c_void,
    pub(super) client: *mut Mosquitto,
    pub(super) topic: *const c_char,
    pub(super) payload: *const c_void,
    pub(super) properties: *mut c_void,
    pub(super) access: c_int,
    pub(super) payloadlen: u32,
    pub(super) qos: u8,
    pub(super) retain: bool,
    pub(super) future2: [*mut c_void; 4],
}

/// `struct mosquitto_evt_basic_auth`.
#[repr(C)]
pub(super) struct EvtBasicAuth {
    pub(super) future: *mut c_void,
    pub(super) client: *mut Mosquitto,
    pub(super) username: *mut c_char,
    pub(super) password: *mut c_char,
    pub(super) future2: [*mut c_void; 4],
}

/// `struct mosquitto_evt_extended_auth`.
#[repr(C)]
pub(super) struct EvtExtendedAuth {
    pub(super) future: *mut c_void,
    pub(super) client: *mut Mosquitto,
    pub(super) data_in: *const c_void,
    pub(super) data_out: *mut c_void,
    pub(super) data_in_len: u16,
    pub(super) data_out_len: u16,
    pub(super) auth_method: *const c_char,
    pub(super) future2: [*mut c_void; 3],
}

/// `struct mosquitto_evt_disconnect`.
#[repr(C)]
pub(super) struct EvtDisconnect {
    pub(super) future: *mut c_void,
    pub(super) client: *mut Mosquitto,
    pub(super) reason: c_int,
    pub(super) future2: [*mut c_void; 4],
}

/// `MOSQ_FUNC_generic_callback`.
pub(super) type Callback = extern "C" fn(c_int, *mut c_void, *mut c_void) -> c_int;

// Provided by the mosquitto executable that loads the plugin (it exports them, see Mosquitto's
// src/linker.syms), so the cdylib links with them unresolved.
extern "C" {
    pub(super) fn mosquitto_callback_register(
        identifier: *mut PluginId,
        event: c_int,
        cb_func: Callback,
        event_data: *const c_void,
        userdata: *mut c_void,
    ) -> c_int;
    pub(super) fn mosquitto_callback_unregister(
        identifier: *mut PluginId,
        event: c_int,
        cb_func: Callback,
        event_data: *const c_void,
    ) -> c_int;
    pub(super) fn mosquitto_client_id(client: *const Mosquitto) -> *const c_char;
    pub(super) fn mosquitto_client_username(client: *const Mosquitto) -> *const c_char;
    pub(super) fn mosquitto_kick_client_by_clientid(
        clientid: *const c_char,
        with_will: bool,
    ) -> c_int;
}

// Variadic, so the unit tests' fake broker (which defines the functions above) cannot define
// it: under `cfg(test)` the log goes to the fake's buffer instead.
#[cfg(not(test))]
extern "C" {
    pub(super) fn mosquitto_log_printf(level: c_int, fmt: *const c_char, ...);
}

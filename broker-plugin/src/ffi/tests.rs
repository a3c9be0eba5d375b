//! The binding driven by a fake broker: the broker functions are defined here (the test
//! executable has no Mosquitto to resolve them), and the events are built as Mosquitto builds
//! them, with null pointers and non-UTF-8 bytes where a broker or client could put them.

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
    let template =
        ClaimTemplate::new("dev", Duration::from_secs(ttl)).with_permissions(PermissionClaims {
            publish: vec!["out/#".into()],
            subscribe: vec![],
        });
    JwtSigner::from_secret(Algorithm::HS256, SECRET.as_bytes(), template)
        .unwrap()
        .sign(SystemTime::now())
        .unwrap()
        .expose()
        .to_owned()
}

fn basic_auth(client: *mut Mosquitto, username: *const c_char, password: *const c_char) -> c_int {
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

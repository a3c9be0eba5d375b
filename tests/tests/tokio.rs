//! The whole scenario suite on tokio (`smol.rs` is the same suite on smol).

fn block_on<F: std::future::Future<Output = ()>>(future: F) {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(future)
}

jamey_mqtt_tests::suite!(jamey_mqtt_tokio::TokioRuntime, block_on);

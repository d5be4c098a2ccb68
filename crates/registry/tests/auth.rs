//! Basic auth (htpasswd) and bearer tokens against the real `docker-registry`; login and logout.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use berth_image::{host_platform, ContentStore, LayerCompression};
use berth_registry::{
    logout, store_only, CredentialStore, Credentials, PullOptions, PushOptions, RegistryError,
};
use common::*;

fn store() -> (tempfile::TempDir, ContentStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = ContentStore::open(dir.path().join("content")).unwrap();
    (dir, store)
}

fn image(seed: u64) -> (TestImage, tempfile::TempDir, ContentStore) {
    let arch = host_platform().architecture;
    let img = build_image(
        Flavour::Oci,
        seed,
        &[(LayerCompression::Gzip, 50_000)],
        ("linux", &arch),
    );
    let (d, s) = store();
    img.store_into(&s);
    (img, d, s)
}

#[test]
fn basic_auth_login_pull_push_logout() {
    let reg = Registry::start(Auth::Htpasswd);
    let (img, _d, src) = image(30);
    let r = reg.reference("private/app:1");

    // Anonymous: refused, naming the registry and repository.
    let anonymous = client(CredentialStore::none());
    let err = anonymous
        .push(&r, &src, &img.manifest_digest, &PushOptions::default())
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "unauthorized: authentication required for {}/private/app",
            reg.addr()
        )
    );
    let (_x, dst) = store();
    let err = anonymous
        .pull(&r, &dst, &PullOptions::default(), &store_only)
        .unwrap_err();
    assert!(matches!(err, RegistryError::Unauthorized { .. }), "{err:?}");

    // Login: a wrong password is refused and nothing is written.
    let home = tempfile::tempdir().unwrap();
    let auth_file = home.path().join("berth/auth.json");
    let err = anonymous
        .login(&reg.addr(), USER, "wrong", &auth_file)
        .unwrap_err();
    assert!(matches!(err, RegistryError::LoginFailed { .. }), "{err:?}");
    assert!(!auth_file.exists());
    anonymous
        .login(&reg.addr(), USER, PASSWORD, &auth_file)
        .unwrap();
    assert_eq!(
        fs::metadata(&auth_file).unwrap().permissions().mode() & 0o777,
        0o600
    );

    let authed = client(CredentialStore::none().with_auth_file(&auth_file));
    authed
        .push(&r, &src, &img.manifest_digest, &PushOptions::default())
        .unwrap();
    let p = authed
        .pull(&r, &dst, &PullOptions::default(), &store_only)
        .unwrap();
    assert_eq!(p.digest, img.manifest_digest);

    // Docker's config.json works the same way.
    let docker = home.path().join("docker/config.json");
    fs::create_dir_all(docker.parent().unwrap()).unwrap();
    fs::write(
        &docker,
        format!(
            r#"{{"auths": {{"{}": {{"auth": "{}"}}}}}}"#,
            reg.addr(),
            STANDARD.encode(format!("{USER}:{PASSWORD}"))
        ),
    )
    .unwrap();
    let (_y, dst2) = store();
    client(CredentialStore::none().with_docker_config(&docker))
        .pull(&r, &dst2, &PullOptions::default(), &store_only)
        .unwrap();

    assert!(logout(&reg.addr(), &auth_file).unwrap());
    assert!(!logout(&reg.addr(), &auth_file).unwrap());
    let (_z, dst3) = store();
    let err = client(CredentialStore::none().with_auth_file(&auth_file))
        .pull(&r, &dst3, &PullOptions::default(), &store_only)
        .unwrap_err();
    assert!(matches!(err, RegistryError::Unauthorized { .. }), "{err:?}");
}

#[test]
fn bearer_tokens_from_a_token_service() {
    let reg = Registry::start(Auth::Token);
    let (img, _d, src) = image(31);
    let a = reg.reference("tok/a:1");
    let b = reg.reference("tok/b:1");

    // No credentials: the token service refuses, and so the registry.
    let (_x, dst) = store();
    let err = client(CredentialStore::none())
        .push(&a, &src, &img.manifest_digest, &PushOptions::default())
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "unauthorized: authentication required for {}/tok/a",
            reg.addr()
        )
    );

    let creds = CredentialStore::none().with(&reg.addr(), Credentials::new(USER, PASSWORD));
    let c = client(creds);
    c.push(&a, &src, &img.manifest_digest, &PushOptions::default())
        .unwrap();
    // A cross-repository mount needs pull on the source as well.
    c.push(
        &b,
        &src,
        &img.manifest_digest,
        &PushOptions {
            mount_from: Some(a.clone()),
            ..Default::default()
        },
    )
    .unwrap();
    let p = c
        .pull(&b, &dst, &PullOptions::default(), &store_only)
        .unwrap();
    assert_eq!(p.digest, img.manifest_digest);

    let asked = reg
        .token_server
        .as_ref()
        .unwrap()
        .asked
        .lock()
        .unwrap()
        .clone();
    assert!(
        asked.contains(&vec!["repository:tok/a:pull,push".to_string()]),
        "{asked:?}"
    );
    assert!(
        asked
            .iter()
            .any(|s| s.contains(&"repository:tok/b:pull,push".to_string())
                && s.contains(&"repository:tok/a:pull".to_string())),
        "{asked:?}"
    );
    assert!(
        asked.contains(&vec!["repository:tok/b:pull".to_string()]),
        "{asked:?}"
    );
    assert!(
        asked.contains(&vec!["repository:tok/b:pull,push".to_string()]),
        "{asked:?}"
    );
    // Tokens are cached per scope: one request per scope set, not per HTTP request.
    assert_eq!(asked.len(), 4, "{asked:?}");

    // Login goes through the token service.
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join("auth.json");
    let anon = client(CredentialStore::none());
    let err = anon.login(&reg.addr(), USER, "nope", &file).unwrap_err();
    assert!(matches!(err, RegistryError::LoginFailed { .. }), "{err:?}");
    anon.login(&reg.addr(), USER, PASSWORD, &file).unwrap();
    assert!(file.exists());
}

#[test]
fn tls_is_verified_unless_the_registry_is_insecure() {
    let tls = Registry::start_with(Auth::None, true);
    let plain = Registry::start(Auth::None);
    let (img, _d, src) = image(32);
    let strict_config = berth_registry::ClientConfig {
        insecure_loopback: false,
        ..test_config()
    };
    let strict = berth_registry::Client::new(strict_config.clone(), CredentialStore::none());
    for reg in [&tls, &plain] {
        let err = strict
            .push(
                &reg.reference("t/app:1"),
                &src,
                &img.manifest_digest,
                &PushOptions::default(),
            )
            .unwrap_err();
        assert!(matches!(err, RegistryError::Connect { .. }), "{err:?}");
        let msg = err.to_string();
        assert!(
            msg.contains(&reg.addr()) && msg.contains("mark it insecure"),
            "{msg}"
        );
    }

    // Listed as insecure (or loopback, by default): unverified TLS, and plain HTTP.
    let listed = berth_registry::Client::new(
        berth_registry::ClientConfig {
            insecure_registries: vec![tls.addr(), plain.addr()],
            ..strict_config
        },
        CredentialStore::none(),
    );
    for c in [&listed, &client(CredentialStore::none())] {
        for reg in [&tls, &plain] {
            let r = reg.reference("t/app:1");
            c.push(&r, &src, &img.manifest_digest, &PushOptions::default())
                .unwrap();
            let (_x, dst) = store();
            assert_eq!(
                c.pull(&r, &dst, &PullOptions::default(), &store_only)
                    .unwrap()
                    .digest,
                img.manifest_digest
            );
        }
    }
}

//! The Graph client against tessera-idp: profile and photo, a CAE claims challenge answered
//! with one new token, an invalid token answered with one forced refresh, and throttling.

#![allow(clippy::unwrap_used)]

use serde_json::{json, Value};
use tessera_auth::secret::AccessToken;
use tessera_auth::{Config, InteractiveRequest, PublicClientApplication, SilentRequest};
use tessera_graph::{with_token, CallError, GraphClient, GraphError, TokenNeed, PROFILE_SCOPES};
use tessera_idp::{IdpOptions, RunningIdp, DEFAULT_CLIENT_ID};
use tessera_test_support::ScriptedBrowser;

struct World {
    idp: RunningIdp,
    app: PublicClientApplication,
    graph: GraphClient,
}

async fn signed_in(username: &str) -> (World, tessera_auth::Account) {
    let idp = tessera_idp::start(IdpOptions::default()).await.unwrap();
    let mut config = Config::new(DEFAULT_CLIENT_ID, idp.authority().as_str());
    config.default_scopes = PROFILE_SCOPES.iter().map(|s| s.to_string()).collect();
    config.client_capabilities = vec!["cp1".into()];
    let app = PublicClientApplication::new(config).unwrap();
    let browser = ScriptedBrowser::user(username);
    let account = app
        .acquire_token_interactive(InteractiveRequest::default(), &browser)
        .await
        .unwrap()
        .account;
    let graph = GraphClient::new(reqwest::Client::new(), idp.graph_url()).unwrap();
    let world = World { idp, app, graph };
    (world, account)
}

impl World {
    async fn token(&self, account: &tessera_auth::Account, need: TokenNeed) -> AccessToken {
        let mut request = SilentRequest::new(account.clone(), vec![]);
        match need {
            TokenNeed::Any => {}
            TokenNeed::ForceRefresh => request.force_refresh = true,
            TokenNeed::Claims(claims) => request.claims = Some(claims),
        }
        self.app
            .acquire_token_silent(request, None)
            .await
            .unwrap()
            .access_token
    }

    async fn control(&self, method: reqwest::Method, path: &str, body: Value) {
        self.idp.control(method, path, body).await.unwrap();
    }

    async fn stat(&self, key: &str) -> u64 {
        self.idp.stat(key).await.unwrap()
    }
}

#[tokio::test]
async fn profile_and_photo_of_the_signed_in_user() {
    let (world, ada) = signed_in("ada@tessera.test").await;
    let token = world.token(&ada, TokenNeed::Any).await;
    let me = world.graph.me(&token).await.unwrap();
    assert_eq!(me.id, ada.local_account_id);
    assert_eq!(me.user_principal_name.as_deref(), Some("ada@tessera.test"));
    assert!(
        me.display_name.is_some() && me.job_title.is_some(),
        "{me:?}"
    );
    let photo = world
        .graph
        .photo(&token)
        .await
        .unwrap()
        .expect("ada has a photo");
    assert_eq!(photo.content_type, "image/jpeg");
    assert_eq!(&photo.bytes[..2], &[0xFF, 0xD8], "a JPEG");

    let (world, alan) = signed_in("alan@tessera.test").await;
    let token = world.token(&alan, TokenNeed::Any).await;
    assert_eq!(
        world.graph.photo(&token).await.unwrap(),
        None,
        "no photo is not an error"
    );
    assert_eq!(
        world.stat("graph:photo").await,
        2,
        "96x96, then the default size"
    );
}

#[tokio::test]
async fn a_claims_challenge_gets_one_new_token_with_the_claims_and_one_retry() {
    let (world, ada) = signed_in("ada@tessera.test").await;
    world
        .control(
            reqwest::Method::POST,
            "users/ada@tessera.test/claims-challenge",
            json!({ "kind": "acrs", "value": "c1" }),
        )
        .await;
    let stale = world.token(&ada, TokenNeed::Any).await;
    let err = world.graph.me(&stale).await.unwrap_err();
    let GraphError::ClaimsChallenge { claims, .. } = err else {
        panic!("expected a claims challenge, got {err:?}")
    };
    assert!(claims.contains("\"acrs\""), "decoded claims JSON: {claims}");

    let mut needs = vec![];
    let me = with_token(
        |need| {
            needs.push(need.clone());
            let world = &world;
            let ada = &ada;
            async move { Ok::<_, tessera_auth::Error>(world.token(ada, need).await) }
        },
        |token| {
            let graph = &world.graph;
            async move { graph.me(&token).await }
        },
    )
    .await
    .unwrap();
    assert_eq!(me.id, ada.local_account_id);
    assert!(
        matches!(needs.as_slice(), [TokenNeed::Any, TokenNeed::Claims(c)] if c.contains("acrs")),
        "{needs:?}"
    );
}

#[tokio::test]
async fn an_invalid_token_gets_one_forced_refresh_and_a_persistent_failure_is_reported() {
    let (world, ada) = signed_in("ada@tessera.test").await;
    let mut needs = vec![];
    let result = with_token(
        |need| {
            needs.push(need);
            async { Ok::<_, tessera_auth::Error>(AccessToken::new("not-a-jwt")) }
        },
        |token| {
            let graph = &world.graph;
            async move { graph.me(&token).await }
        },
    )
    .await;
    assert!(
        matches!(
            result,
            Err(CallError::Graph(GraphError::InvalidToken { .. }))
        ),
        "{result:?}"
    );
    assert_eq!(
        needs,
        vec![TokenNeed::Any, TokenNeed::ForceRefresh],
        "exactly one retry"
    );
    // And with a real token the same path succeeds at once.
    let token = world.token(&ada, TokenNeed::Any).await;
    world.graph.me(&token).await.unwrap();
}

#[tokio::test]
async fn throttling_is_waited_out_when_short_and_respected_when_long() {
    let (world, ada) = signed_in("ada@tessera.test").await;
    let token = world.token(&ada, TokenNeed::Any).await;
    let fault = |retry_after: u64| json!({ "target": "graph", "kind": "status", "status": 429, "retry_after": retry_after, "count": 1 });
    world
        .control(reqwest::Method::POST, "faults", fault(1))
        .await;
    world.graph.me(&token).await.unwrap();
    assert_eq!(world.stat("graph").await, 2, "one 429, one retry");

    world
        .control(reqwest::Method::POST, "faults", fault(120))
        .await;
    let err = world.graph.me(&token).await.unwrap_err();
    assert!(
        matches!(err, GraphError::Throttled { retry_after, .. } if retry_after.as_secs() == 120),
        "{err:?}"
    );
    let again = world.graph.me(&token).await.unwrap_err();
    assert!(
        matches!(again, GraphError::Throttled { retry_after, .. } if retry_after.as_secs() <= 120),
        "{again:?}"
    );
    assert_eq!(
        world.stat("graph").await,
        3,
        "no request goes out before Retry-After has passed"
    );
}

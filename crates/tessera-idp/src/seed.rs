//! The directory the provider serves: its tenant, users, public clients and APIs.
//!
//! Built-in defaults (two users, one public client whose id is Tessera's default) or a JSON file
//! of the same shape (`--seed FILE`); see the crate README for the format.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::ids::is_guid;

/// Tessera's default client id: the app and the CLI use it when no client id is configured.
pub const DEFAULT_CLIENT_ID: &str = "3b2c9d1e-5a7f-4e60-8c1b-2d4f6a8e0c15";
/// The seeded tenant's id (`tid`).
pub const DEFAULT_TENANT_ID: &str = "5e7a1d3c-0b9f-4c2e-9a41-7c1d2e3f4a5b";
/// The built-in resource tenant (Fabrikam), where Ada is a guest.
pub const GUEST_TENANT_ID: &str = "9c4e2b1a-6d3f-4a7e-8b5c-1f2e3d4c5b6a";
/// Password of every built-in user.
pub const DEFAULT_PASSWORD: &str = "tessera";

/// A photo that ships inside the binary, named in seed files as `builtin:ada`.
const BUILTIN_PHOTOS: &[(&str, &[u8], &[u8])] = &[(
    "builtin:ada",
    include_bytes!("../assets/ada-96.jpg"),
    include_bytes!("../assets/ada-240.jpg"),
)];

/// Everything the provider knows before the first request.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Seed {
    /// The one directory (tenant) this provider hosts.
    pub tenant: Tenant,
    /// Users who can sign in.
    pub users: Vec<User>,
    /// Registered public client applications.
    pub clients: Vec<Client>,
    /// APIs besides Microsoft Graph that clients may ask tokens for.
    #[serde(default)]
    pub apis: Vec<Api>,
    /// Other directories that invited users of this one as guests (Entra B2B collaboration).
    #[serde(default)]
    pub guest_tenants: Vec<GuestTenant>,
}

/// A directory.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tenant {
    /// Tenant id, a GUID: the `tid` claim and the `utid` of `client_info`.
    pub id: String,
    /// Verified domain; `/{domain}/...` is accepted like `/{tenant id}/...`.
    pub domain: String,
    /// Organisation name.
    pub display_name: String,
}

/// A directory that has invited users of the home tenant (Microsoft Learn, "B2B collaboration
/// overview"): a guest signs in with their home credentials at this tenant's authority, and its
/// tokens carry this tenant's `tid` and the guest's object id here, while `client_info` still
/// names the home account ("Microsoft identity platform ID tokens": `tid` is the tenant the
/// user signs in to; MSAL keys the account by `client_info`'s `uid.utid`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuestTenant {
    /// Tenant id, a GUID.
    pub id: String,
    /// Verified domain.
    pub domain: String,
    /// Organisation name.
    pub display_name: String,
    /// The home tenant's users invited here.
    pub guests: Vec<Guest>,
}

/// A home-tenant user's guest object in another directory.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Guest {
    /// The home tenant user's sign-in name.
    pub username: String,
    /// The guest object's id in the inviting tenant (another GUID than at home).
    pub object_id: String,
}

/// A user of the directory, with the Graph profile `/v1.0/me` returns.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    /// Sign-in name (`preferred_username`, `userPrincipalName`).
    pub username: String,
    /// Plain-text password: this is an emulator with test users only.
    pub password: String,
    /// Object id (`oid`), a GUID.
    pub object_id: String,
    /// Graph `displayName` and the id token's `name`.
    pub display_name: String,
    /// Graph `givenName`.
    pub given_name: String,
    /// Graph `surname`.
    pub surname: String,
    /// Graph `jobTitle`.
    #[serde(default)]
    pub job_title: Option<String>,
    /// Graph `mail`.
    #[serde(default)]
    pub mail: Option<String>,
    /// Graph `officeLocation`.
    #[serde(default)]
    pub office_location: Option<String>,
    /// Graph `businessPhones`.
    #[serde(default)]
    pub business_phones: Vec<String>,
    /// Graph `mobilePhone`.
    #[serde(default)]
    pub mobile_phone: Option<String>,
    /// Graph `preferredLanguage`.
    #[serde(default)]
    pub preferred_language: Option<String>,
    /// `builtin:ada`, or a JPEG file path (relative to the seed file). None: no photo (404).
    #[serde(default)]
    pub photo: Option<String>,
}

/// A registered public client application.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Client {
    /// Application (client) id, a GUID.
    pub client_id: String,
    /// Name shown on the consent page.
    pub display_name: String,
    /// Registered redirect URIs. Loopback `http://localhost` and `http://127.0.0.1` entries
    /// match any port, as Entra's do.
    pub redirect_uris: Vec<String>,
    /// Statically configured permissions (what `/.default` means), e.g. `User.Read`.
    #[serde(default)]
    pub api_permissions: Vec<String>,
}

/// An API (resource) other than Graph.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Api {
    /// Application id URI, e.g. `api://tessera-demo`: the prefix of its scopes and the `aud`.
    pub identifier_uri: String,
    /// Delegated scopes it exposes, e.g. `access_as_user`.
    pub scopes: Vec<String>,
}

/// The JPEGs of a user's photo.
#[derive(Debug, Clone)]
pub struct Photo {
    /// 96×96 (`/me/photos/96x96/$value`).
    pub small: Vec<u8>,
    /// The largest size (`/me/photo/$value`).
    pub large: Vec<u8>,
}

/// Why a seed was refused.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    /// The file could not be read.
    #[error("cannot read seed file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid seed JSON.
    #[error("seed file {path} is not valid: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// Where and why parsing failed.
        source: serde_json::Error,
    },
    /// The data is well-formed but inconsistent.
    #[error("invalid seed: {0}")]
    Invalid(String),
}

impl Default for Seed {
    fn default() -> Self {
        let domain = "tessera.test";
        Seed {
            tenant: Tenant {
                id: DEFAULT_TENANT_ID.into(),
                domain: domain.into(),
                display_name: "Tessera Test".into(),
            },
            users: vec![
                User {
                    username: format!("ada@{domain}"),
                    password: DEFAULT_PASSWORD.into(),
                    object_id: "0d1c6a5e-2f4b-4a8e-9c3d-1b7e5f9a2c40".into(),
                    display_name: "Ada Lovelace".into(),
                    given_name: "Ada".into(),
                    surname: "Lovelace".into(),
                    job_title: Some("Analyst of the Engine".into()),
                    mail: Some(format!("ada@{domain}")),
                    office_location: Some("London, St James's Square".into()),
                    business_phones: vec!["+44 20 7946 0018".into()],
                    mobile_phone: Some("+44 7700 900181".into()),
                    preferred_language: Some("en-GB".into()),
                    photo: Some("builtin:ada".into()),
                },
                User {
                    username: format!("alan@{domain}"),
                    password: DEFAULT_PASSWORD.into(),
                    object_id: "7a9b3c2d-4e5f-4061-8273-9a8b7c6d5e4f".into(),
                    display_name: "Alan Turing".into(),
                    given_name: "Alan".into(),
                    surname: "Turing".into(),
                    job_title: Some("Cryptanalyst".into()),
                    mail: Some(format!("alan@{domain}")),
                    office_location: Some("Bletchley Park, Hut 8".into()),
                    business_phones: vec![],
                    mobile_phone: None,
                    preferred_language: Some("en-GB".into()),
                    photo: None,
                },
            ],
            clients: vec![Client {
                client_id: DEFAULT_CLIENT_ID.into(),
                display_name: "Tessera".into(),
                redirect_uris: vec![
                    "http://localhost".into(),
                    "http://127.0.0.1".into(),
                    "https://login.microsoftonline.com/common/oauth2/nativeclient".into(),
                    format!("msal{DEFAULT_CLIENT_ID}://auth"),
                    // The embedded window's default for providers that are not Microsoft's: a
                    // private-use scheme, reverse-DNS of the app id (RFC 8252 §7.1).
                    "dev.tessera.desktop:/oauth2redirect".into(),
                ],
                api_permissions: vec!["User.Read".into()],
            }],
            apis: vec![Api {
                identifier_uri: "api://tessera-demo".into(),
                scopes: vec!["access_as_user".into()],
            }],
            guest_tenants: vec![GuestTenant {
                id: GUEST_TENANT_ID.into(),
                domain: "fabrikam.test".into(),
                display_name: "Fabrikam".into(),
                guests: vec![Guest {
                    username: format!("ada@{domain}"),
                    object_id: "c4f1e2d3-8a7b-4c6d-9e5f-0a1b2c3d4e5f".into(),
                }],
            }],
        }
    }
}

impl Seed {
    /// Reads and validates a JSON seed file.
    pub fn from_file(path: &Path) -> Result<Seed, SeedError> {
        let text = std::fs::read_to_string(path).map_err(|source| SeedError::Read {
            path: path.to_owned(),
            source,
        })?;
        let mut seed: Seed = serde_json::from_str(&text).map_err(|source| SeedError::Parse {
            path: path.to_owned(),
            source,
        })?;
        // Photo paths are relative to the seed file, not to the working directory.
        let base = path.parent().unwrap_or(Path::new("."));
        for user in &mut seed.users {
            if let Some(photo) = &mut user.photo {
                if !photo.starts_with("builtin:") && Path::new(photo).is_relative() {
                    *photo = base.join(&*photo).to_string_lossy().into_owned();
                }
            }
        }
        seed.validate()?;
        Ok(seed)
    }

    /// Checks the rules the provider relies on: GUIDs where Entra has GUIDs, unique names,
    /// parseable redirect URIs.
    pub fn validate(&self) -> Result<(), SeedError> {
        let bad = |msg: String| Err(SeedError::Invalid(msg));
        if !is_guid(&self.tenant.id) {
            return bad(format!("tenant id {:?} is not a GUID", self.tenant.id));
        }
        let mut names = HashSet::new();
        for user in &self.users {
            if !is_guid(&user.object_id) {
                return bad(format!("user {}: object_id is not a GUID", user.username));
            }
            if !user.username.contains('@') {
                return bad(format!(
                    "user {:?}: username must be user@domain",
                    user.username
                ));
            }
            if !names.insert(user.username.to_lowercase()) {
                return bad(format!("user {} is listed twice", user.username));
            }
            if let Some(photo) = &user.photo {
                load_photo(photo).map_err(SeedError::Invalid)?;
            }
        }
        let mut ids = HashSet::new();
        for client in &self.clients {
            if !is_guid(&client.client_id) {
                return bad(format!("client id {:?} is not a GUID", client.client_id));
            }
            if !ids.insert(client.client_id.to_lowercase()) {
                return bad(format!("client {} is listed twice", client.client_id));
            }
            if client.redirect_uris.is_empty() {
                return bad(format!("client {} has no redirect URI", client.client_id));
            }
            for uri in &client.redirect_uris {
                if let Err(err) = url::Url::parse(uri) {
                    return bad(format!(
                        "client {}: redirect URI {uri:?}: {err}",
                        client.client_id
                    ));
                }
            }
        }
        let mut tenants = HashSet::from([self.tenant.id.to_lowercase()]);
        for tenant in &self.guest_tenants {
            if !is_guid(&tenant.id) || !tenants.insert(tenant.id.to_lowercase()) {
                return bad(format!(
                    "guest tenant {:?}: id is not a GUID or is listed twice",
                    tenant.id
                ));
            }
            for guest in &tenant.guests {
                if self.user_by_name(&guest.username).is_none() || !is_guid(&guest.object_id) {
                    return bad(format!(
                        "guest tenant {}: guest {:?} is not a home user with a GUID object_id",
                        tenant.domain, guest.username
                    ));
                }
            }
        }
        for api in &self.apis {
            if !api.identifier_uri.contains("://") {
                return bad(format!(
                    "API {:?}: identifier_uri must be a URI",
                    api.identifier_uri
                ));
            }
        }
        Ok(())
    }

    /// The user with this sign-in name (case-insensitive), if any.
    pub fn user_by_name(&self, username: &str) -> Option<&User> {
        self.users
            .iter()
            .find(|u| u.username.eq_ignore_ascii_case(username.trim()))
    }

    /// The user with this object id, if any.
    pub fn user_by_oid(&self, oid: &str) -> Option<&User> {
        self.users.iter().find(|u| u.object_id == oid)
    }

    /// The home user whose object this is, at home or as a guest in another tenant.
    pub fn user_by_any_oid(&self, oid: &str) -> Option<&User> {
        self.user_by_oid(oid).or_else(|| {
            self.guest_tenants
                .iter()
                .flat_map(|t| &t.guests)
                .find(|g| g.object_id == oid)
                .and_then(|g| self.user_by_name(&g.username))
        })
    }

    /// The guest tenant a path segment names (its id or domain), if any.
    pub fn guest_tenant(&self, segment: &str) -> Option<&GuestTenant> {
        self.guest_tenants
            .iter()
            .find(|t| t.id.eq_ignore_ascii_case(segment) || t.domain.eq_ignore_ascii_case(segment))
    }

    /// The client with this id (case-insensitive, as GUIDs are), if any.
    pub fn client(&self, client_id: &str) -> Option<&Client> {
        self.clients
            .iter()
            .find(|c| c.client_id.eq_ignore_ascii_case(client_id))
    }
}

/// Loads a photo reference: `builtin:NAME` or a JPEG file.
pub fn load_photo(reference: &str) -> Result<Photo, String> {
    if let Some((_, small, large)) = BUILTIN_PHOTOS.iter().find(|(n, _, _)| *n == reference) {
        return Ok(Photo {
            small: small.to_vec(),
            large: large.to_vec(),
        });
    }
    if reference.starts_with("builtin:") {
        return Err(format!("unknown built-in photo {reference:?}"));
    }
    let bytes = std::fs::read(reference).map_err(|e| format!("photo {reference}: {e}"))?;
    if !bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        return Err(format!("photo {reference} is not a JPEG file"));
    }
    Ok(Photo {
        small: bytes.clone(),
        large: bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        Seed::default()
            .validate()
            .expect("the built-in seed must validate");
        let seed = Seed::default();
        assert!(
            seed.user_by_name("ADA@tessera.test").is_some(),
            "names are case-insensitive"
        );
        assert!(seed.client(&DEFAULT_CLIENT_ID.to_uppercase()).is_some());
    }

    #[test]
    fn inconsistent_seeds_are_refused_with_the_reason() {
        let mut seed = Seed::default();
        seed.users.push(seed.users[0].clone());
        let err = seed.validate().expect_err("duplicate user").to_string();
        assert!(err.contains("listed twice"), "{err}");

        let mut seed = Seed::default();
        seed.clients[0].redirect_uris.push("not a url".into());
        assert!(seed.validate().is_err());

        let mut seed = Seed::default();
        seed.users[0].photo = Some("builtin:nobody".into());
        assert!(seed.validate().is_err());
    }

    #[test]
    fn seed_files_round_trip_and_bad_files_say_where() {
        let dir = std::env::temp_dir().join(format!("tessera-seed-{}", crate::ids::guid()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("seed.json");
        std::fs::write(&good, serde_json::to_string(&Seed::default()).unwrap()).unwrap();
        let seed = Seed::from_file(&good).expect("a written default seed loads");
        assert_eq!(seed.users.len(), 2);

        let bad = dir.join("bad.json");
        std::fs::write(&bad, r#"{"tenant": {"id": 1}}"#).unwrap();
        let err = Seed::from_file(&bad).expect_err("wrong type").to_string();
        assert!(err.contains("bad.json") && err.contains("line 1"), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}

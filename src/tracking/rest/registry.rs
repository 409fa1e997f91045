//! The model registry on an MLflow tracking server: registered-models (search, get, create —
//! RESOURCE_ALREADY_EXISTS means it is there), model-versions (create, get, paged search, tags,
//! download URI), and aliases (set, get, delete).

use super::RestStore;
use super::artifacts::{ArtifactLocation, download_cached};
use super::runs::{array, json_int, key_values};
use crate::error::{Error, Result};
use crate::tracking::entities::{ModelVersion, RegisteredModel};
use serde_json::{Value, json};
use std::path::PathBuf;

/// Pages of registered-models/search or model-versions/search fetched at most.
const MAX_PAGES: usize = 100;

impl RestStore {
    pub fn registered_models(&self) -> Result<Vec<RegisteredModel>> {
        let mut out = Vec::new();
        let mut token = String::new();
        for _ in 0..MAX_PAGES {
            let mut query = vec![("max_results", "1000")];
            if !token.is_empty() {
                query.push(("page_token", token.as_str()));
            }
            let answer = self.client.get("mlflow/registered-models/search", &query)?;
            out.extend(array(&answer["registered_models"]).iter().filter_map(registered_model_from_json));
            token = answer["next_page_token"].as_str().unwrap_or_default().to_string();
            if token.is_empty() {
                break;
            }
        }
        Ok(out)
    }

    pub fn get_registered_model(&self, name: &str) -> Result<Option<RegisteredModel>> {
        let endpoint = "mlflow/registered-models/get";
        match self.client.try_get(endpoint, &[("name", name)]) {
            Ok(answer) => Ok(registered_model_from_json(&answer["registered_model"])),
            Err(e) if e.is("RESOURCE_DOES_NOT_EXIST") => Ok(None),
            Err(e) => Err(self.client.error("GET", endpoint, &e)),
        }
    }

    pub fn create_registered_model(&self, name: &str) -> Result<RegisteredModel> {
        let endpoint = "mlflow/registered-models/create";
        match self.client.try_post(endpoint, &json!({"name": name})) {
            Ok(_) => {}
            Err(e) if e.is("RESOURCE_ALREADY_EXISTS") => {}
            Err(e) => return Err(self.client.error("POST", endpoint, &e)),
        }
        self.get_registered_model(name)?.ok_or_else(|| {
            Error::Tracking(format!("{}: registered model {name:?} vanished", self.client.base))
        })
    }

    pub fn create_model_version(&self, name: &str, source: &str, run_id: &str) -> Result<ModelVersion> {
        let body = json!({"name": name, "source": source, "run_id": run_id});
        let answer = self.client.post("mlflow/model-versions/create", &body)?;
        version_from_json(&answer["model_version"]).ok_or_else(|| {
            Error::Tracking(format!("model-versions/create answered without a version: {answer}"))
        })
    }

    pub fn get_model_version(&self, name: &str, version: u32) -> Result<Option<ModelVersion>> {
        let endpoint = "mlflow/model-versions/get";
        let version = version.to_string();
        match self.client.try_get(endpoint, &[("name", name), ("version", version.as_str())]) {
            Ok(answer) => Ok(version_from_json(&answer["model_version"])),
            Err(e) if e.is("RESOURCE_DOES_NOT_EXIST") => Ok(None),
            Err(e) => Err(self.client.error("GET", endpoint, &e)),
        }
    }

    pub fn search_model_versions(&self, name: &str) -> Result<Vec<ModelVersion>> {
        let filter = format!("name='{}'", name.replace('\'', "\\'"));
        let mut out = Vec::new();
        let mut token = String::new();
        for _ in 0..MAX_PAGES {
            let mut query = vec![("filter", filter.as_str()), ("max_results", "10000")];
            if !token.is_empty() {
                query.push(("page_token", token.as_str()));
            }
            let answer = self.client.get("mlflow/model-versions/search", &query)?;
            out.extend(array(&answer["model_versions"]).iter().filter_map(version_from_json));
            token = answer["next_page_token"].as_str().unwrap_or_default().to_string();
            if token.is_empty() {
                break;
            }
        }
        out.sort_by_key(|v| v.version);
        Ok(out)
    }

    pub fn set_alias(&self, name: &str, alias: &str, version: u32) -> Result<()> {
        let body = json!({"name": name, "alias": alias, "version": version.to_string()});
        self.client.post("mlflow/registered-models/alias", &body).map(|_| ())
    }

    pub fn get_alias(&self, name: &str, alias: &str) -> Result<Option<ModelVersion>> {
        let endpoint = "mlflow/registered-models/alias";
        match self.client.try_get(endpoint, &[("name", name), ("alias", alias)]) {
            Ok(answer) => Ok(version_from_json(&answer["model_version"])),
            // An unset alias (or an unknown model) is "not found" to the server.
            Err(e) if e.is("RESOURCE_DOES_NOT_EXIST") || e.is("INVALID_PARAMETER_VALUE") => Ok(None),
            Err(e) => Err(self.client.error("GET", endpoint, &e)),
        }
    }

    pub fn delete_alias(&self, name: &str, alias: &str) -> Result<()> {
        let endpoint = "mlflow/registered-models/alias";
        self.client
            .try_delete(endpoint, &json!({"name": name, "alias": alias}))
            .map(|_| ())
            .map_err(|e| self.client.error("DELETE", endpoint, &e))
    }

    pub fn set_model_version_tag(&self, name: &str, version: u32, key: &str, value: &str) -> Result<()> {
        let body = json!({"name": name, "version": version.to_string(), "key": key, "value": value});
        self.client.post("mlflow/model-versions/set-tag", &body).map(|_| ())
    }

    pub fn download_model_version(&self, version: &ModelVersion) -> Result<PathBuf> {
        let number = version.version.to_string();
        let query = [("name", version.name.as_str()), ("version", number.as_str())];
        let answer = self.client.get("mlflow/model-versions/get-download-uri", &query)?;
        let uri = answer["artifact_uri"].as_str().ok_or_else(|| {
            Error::Tracking(format!(
                "{}: no download URI for models:/{}/{number}",
                self.client.base, version.name
            ))
        })?;
        download_cached(&self.client, &ArtifactLocation::parse(uri)?, uri)
    }
}

fn registered_model_from_json(m: &Value) -> Option<RegisteredModel> {
    let aliases = array(&m["aliases"])
        .iter()
        .filter_map(|a| {
            Some((a["alias"].as_str()?.to_string(), u32::try_from(json_int(&a["version"])?).ok()?))
        })
        .collect();
    Some(RegisteredModel { name: m["name"].as_str()?.to_string(), aliases, tags: key_values(&m["tags"]) })
}

fn version_from_json(v: &Value) -> Option<ModelVersion> {
    Some(ModelVersion {
        name: v["name"].as_str()?.to_string(),
        version: u32::try_from(json_int(&v["version"])?).ok()?,
        run_id: v["run_id"].as_str().filter(|r| !r.is_empty()).map(str::to_string),
        source: v["source"].as_str().unwrap_or_default().to_string(),
        tags: key_values(&v["tags"]),
        aliases: array(&v["aliases"]).iter().filter_map(|a| a.as_str().map(str::to_string)).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_from_mlflow_json() {
        let v = json!({"name": "m", "version": "3", "run_id": "abc", "source": "mlflow-artifacts:/1/abc/artifacts/model",
                       "tags": [{"key": "validation", "value": "passed"}], "aliases": ["champion"]});
        let mv = version_from_json(&v).unwrap();
        assert_eq!((mv.version, mv.run_id.as_deref()), (3, Some("abc")));
        assert_eq!(mv.tags["validation"], "passed");
        assert_eq!(mv.aliases, ["champion"]);
        let m = json!({"name": "m", "aliases": [{"alias": "champion", "version": "3"}]});
        assert_eq!(registered_model_from_json(&m).unwrap().aliases["champion"], 3);
    }
}

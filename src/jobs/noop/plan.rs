//! The plan of a `noop` run (pure): how long it waits and how it ends.

use serde::Serialize;

use super::settings::Settings;

#[derive(Debug, Serialize)]
pub struct Plan {
    pub sleep_seconds: u64,
    pub fail: bool,
}

impl Plan {
    pub fn render_text(&self) -> String {
        format!(
            "noop: wait {}s, then {}\n",
            self.sleep_seconds,
            if self.fail { "fail" } else { "succeed" }
        )
    }
}

pub fn build(settings: &Settings) -> Plan {
    Plan {
        sleep_seconds: settings.sleep.as_std().as_secs(),
        fail: settings.fail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_says_how_long_and_how_it_ends() {
        let settings: Settings = toml::from_str("sleep = \"1m\"\nfail = true").unwrap();
        assert_eq!(build(&settings).render_text(), "noop: wait 60s, then fail\n");
    }
}

from detector.config.loader import ConfigError, load_config, parse_config
from detector.config.models import Config

__all__ = ["Config", "ConfigError", "load_config", "parse_config"]

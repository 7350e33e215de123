package sigma

import (
	"encoding/base64"

	"go.yaml.in/yaml/v3"
)

func b64std(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func yamlUnmarshal(data []byte, v any) error { return yaml.Unmarshal(data, v) }

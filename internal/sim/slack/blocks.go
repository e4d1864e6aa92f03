package slack

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Block Kit limits the simulator checks.
const (
	maxSectionText   = 3000
	maxSectionFields = 10
	maxFieldText     = 2000
	maxHeaderText    = 150
	maxMarkdownText  = 12_000
	maxContextElems  = 10
	maxBlockID       = 255
)

// blockTypes are the layout blocks a message may carry.
var blockTypes = map[string]bool{
	"actions": true, "context": true, "divider": true, "file": true, "header": true, "image": true,
	"input": true, "markdown": true, "rich_text": true, "section": true, "table": true, "video": true,
}

// parseBlocks reads blocks given as an array or a JSON string and checks
// them. It returns Slack's error code and its per-problem messages
// ("must be less than 3001 characters [json-pointer:/blocks/0/text/text]").
func parseBlocks(v any) ([]any, string, []string) {
	if str, ok := v.(string); ok {
		if strings.TrimSpace(str) == "" {
			return nil, "", nil
		}
		dec := json.NewDecoder(strings.NewReader(str))
		dec.UseNumber()
		if err := dec.Decode(&v); err != nil {
			return nil, "invalid_blocks_format", nil
		}
	}
	blocks, ok := v.([]any)
	if !ok {
		return nil, "invalid_blocks_format", nil
	}
	if len(blocks) > MaxBlocks {
		return nil, "invalid_blocks", []string{fmt.Sprintf("no more than %d items allowed [json-pointer:/blocks]", MaxBlocks)}
	}
	var issues []string
	for i, b := range blocks {
		issues = append(issues, checkBlock(b, fmt.Sprintf("/blocks/%d", i))...)
	}
	if len(issues) > 0 {
		return nil, "invalid_blocks", issues
	}
	return cloneJSON(blocks), "", nil
}

func issue(ptr, format string, args ...any) string {
	return fmt.Sprintf(format, args...) + " [json-pointer:" + ptr + "]"
}

func checkBlock(v any, ptr string) []string {
	b, ok := v.(map[string]any)
	if !ok {
		return []string{issue(ptr, "expected an object")}
	}
	typ, _ := b["type"].(string)
	if !blockTypes[typ] {
		return []string{issue(ptr+"/type", "unsupported type %q", typ)}
	}
	var out []string
	if id, ok := b["block_id"]; ok {
		s, isStr := id.(string)
		if !isStr || utf8.RuneCountInString(s) > maxBlockID {
			out = append(out, issue(ptr+"/block_id", "must be a string of at most %d characters", maxBlockID))
		}
	}
	switch typ {
	case "section":
		_, hasText := b["text"]
		fields, hasFields := b["fields"]
		if !hasText && !hasFields {
			out = append(out, issue(ptr, "must provide text or fields"))
		}
		if hasText {
			out = append(out, checkText(b["text"], ptr+"/text", false, maxSectionText)...)
		}
		if hasFields {
			list, ok := fields.([]any)
			switch {
			case !ok || len(list) == 0:
				out = append(out, issue(ptr+"/fields", "must be a non-empty array"))
			case len(list) > maxSectionFields:
				out = append(out, issue(ptr+"/fields", "no more than %d items allowed", maxSectionFields))
			default:
				for i, f := range list {
					out = append(out, checkText(f, fmt.Sprintf("%s/fields/%d", ptr, i), false, maxFieldText)...)
				}
			}
		}
	case "header":
		out = append(out, checkText(b["text"], ptr+"/text", true, maxHeaderText)...)
	case "markdown":
		s, ok := b["text"].(string)
		switch {
		case !ok || s == "":
			out = append(out, issue(ptr+"/text", "must be a non-empty string"))
		case utf8.RuneCountInString(s) > maxMarkdownText:
			out = append(out, issue(ptr+"/text", "must be less than %d characters", maxMarkdownText+1))
		}
	case "context":
		list, ok := b["elements"].([]any)
		switch {
		case !ok || len(list) == 0:
			out = append(out, issue(ptr+"/elements", "must be a non-empty array"))
		case len(list) > maxContextElems:
			out = append(out, issue(ptr+"/elements", "no more than %d items allowed", maxContextElems))
		}
	}
	return out
}

// checkText checks a text object: {"type": "plain_text"|"mrkdwn", "text": …}.
func checkText(v any, ptr string, plainOnly bool, maxLen int) []string {
	t, ok := v.(map[string]any)
	if !ok {
		return []string{issue(ptr, "expected an object")}
	}
	typ, _ := t["type"].(string)
	switch {
	case typ == "plain_text":
	case typ == "mrkdwn" && !plainOnly:
	default:
		want := `"plain_text" or "mrkdwn"`
		if plainOnly {
			want = `"plain_text"`
		}
		return []string{issue(ptr+"/type", "must be %s", want)}
	}
	s, ok := t["text"].(string)
	switch {
	case !ok || s == "":
		return []string{issue(ptr+"/text", "must be more than 0 characters")}
	case utf8.RuneCountInString(s) > maxLen:
		return []string{issue(ptr+"/text", "must be less than %d characters", maxLen+1)}
	}
	return nil
}

package events

import (
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
)

// Title is a short line in Danish that says what the event is about, for
// the coordinators' timeline, e.g. "Praktik startet hos 12345678, 10 t/uge".
// The line comes from the type's title template in its JSON Schema
// ("x-jf": {"title": {"da": ...}}), compiled by go generate. It is made from
// the payload alone: payloads carry ids, codes and numbers,
// never names, so a title reveals nothing the entry's data does not. Codes
// are shown in Danish; a code without a Danish word is shown as it is, so a
// new value never breaks a title. Free text is cut to a line. Optional or
// empty fields are left out rather than printed empty, so a title always
// reads as a sentence.
func Title(e Envelope) string {
	if v := reflect.ValueOf(e.Data); !v.IsValid() || v.Kind() == reflect.Pointer && v.IsNil() {
		if e.Spec.Danish != "" {
			return e.Spec.Danish
		}
		return "Hændelse"
	}
	if t, ok := titleDa(e.Data); ok {
		return t
	}
	// A payload that is not of the catalog.
	if e.Spec.Danish != "" {
		return e.Spec.Danish
	}
	return "Hændelse"
}

// EnglishTitle is Title in English, for developers and logs: the same line
// from the schema's English title template, with codes as they are.
func EnglishTitle(e Envelope) string {
	if v := reflect.ValueOf(e.Data); v.IsValid() && !(v.Kind() == reflect.Pointer && v.IsNil()) {
		if t, ok := titleEn(e.Data); ok {
			return t
		}
	}
	if e.Spec.English != "" {
		return e.Spec.English
	}
	return "Event"
}

// The helpers below are the functions a title template may call (the
// generator's list is in events/internal/catalogen). Titles are written in
// the schemas' "x-jf" title templates and compiled into catalog_gen.go;
// what a template cannot say simply, such as counting members by role, is a
// named helper here.

// da is the Danish word for a code, or the code itself when it has none.
func da(words map[string]string, code string) string {
	if w, ok := words[code]; ok {
		return w
	}
	return code
}

// titled is "head: detail", or head alone when there is no detail.
func titled(head, detail string) string {
	if detail == "" {
		return head
	}
	return head + ": " + detail
}

// prefixed is prefix+s, or "" when s is empty.
func prefixed(prefix, s string) string {
	if s == "" {
		return ""
	}
	return prefix + s
}

// paren is " (s)", or "" when s is empty.
func paren(s string) string {
	if s == "" {
		return ""
	}
	return " (" + s + ")"
}

// list joins the non-empty parts with ", ".
func list(parts ...string) string {
	var keep []string
	for _, p := range parts {
		if p != "" {
			keep = append(keep, p)
		}
	}
	return strings.Join(keep, ", ")
}

// count is "1 barn" or "2 børn".
func count(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// Decimal formats a number with a decimal comma, as Danish readers expect
// ("2,5"): in titles and on the web app's pages. Files for machines keep
// the decimal point.
func Decimal(f float64) string {
	return strings.Replace(strconv.FormatFloat(f, 'f', -1, 64), ".", ",", 1)
}

// number is Decimal under the name title templates use.
var number = Decimal

// hours is "10 t/uge", or "" when not given.
func hours(h float64) string {
	if h <= 0 {
		return ""
	}
	return number(h) + " t/uge"
}

// score is "label 4/5" for a 1–5 score, or "" when not given.
func score(label string, v int) string {
	if v == 0 {
		return ""
	}
	return label + " " + strconv.Itoa(v) + "/5"
}

// maxFree is how much of a free-text field a title shows; the whole text is
// in the entry's data.
const maxFree = 80

// cut shortens free text to one line of at most maxFree characters.
func cut(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > maxFree {
		return strings.TrimSpace(string(r[:maxFree-1])) + "…"
	}
	return s
}

// countItems is count over a list, or "" when it is empty.
func countItems(items []string, one, many string) string {
	if len(items) == 0 {
		return ""
	}
	return count(len(items), one, many)
}

// memberCounts is " (2 forældre, 1 barn)", or "" without parents or children.
func memberCounts(members []Member) string {
	parents, children := roles(members)
	if parents+children == 0 {
		return ""
	}
	return " (" + count(parents, "forælder", "forældre") + ", " + count(children, "barn", "børn") + ")"
}

// memberCountsEn is memberCounts in English.
func memberCountsEn(members []Member) string {
	parents, children := roles(members)
	if parents+children == 0 {
		return ""
	}
	return " (" + count(parents, "parent", "parents") + ", " + count(children, "child", "children") + ")"
}

func roles(members []Member) (parents, children int) {
	for _, m := range members {
		switch m.Role {
		case RoleParent:
			parents++
		case RoleChild:
			children++
		}
	}
	return parents, children
}

// numberEn formats with a decimal point.
func numberEn(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// hoursEn is "10 h/week", or "" when not given.
func hoursEn(h float64) string {
	if h <= 0 {
		return ""
	}
	return numberEn(h) + " h/week"
}

// choose is yes when b holds, otherwise no.
func choose(b bool, yes, no string) string {
	if b {
		return yes
	}
	return no
}

// absence is "Skolefravær 12% ulovligt": the unauthorised share of the
// school days, or "Skolefravær registreret" without school days.
func absence(schoolDays, unauthorised int) string {
	if schoolDays <= 0 {
		return "Skolefravær registreret"
	}
	pct := math.Round(100 * float64(unauthorised) / float64(schoolDays))
	return fmt.Sprintf("Skolefravær %d%% ulovligt", int(pct))
}

// absenceEn is absence in English.
func absenceEn(schoolDays, unauthorised int) string {
	if schoolDays <= 0 {
		return "School absence noted"
	}
	pct := math.Round(100 * float64(unauthorised) / float64(schoolDays))
	return fmt.Sprintf("School absence %d%% unauthorised", int(pct))
}

// period is " (start–end)", or "" when neither is given.
func period(start, end string) string {
	if start == "" && end == "" {
		return ""
	}
	return " (" + start + "–" + end + ")"
}

// evaluationHead is "Midtvejsevaluering registreret" for a kind with a
// Danish word, "Evaluering (kind) registreret" for one without.
func evaluationHead(kind string) string {
	if w, ok := wordsEvaluationRecordedKind[kind]; ok {
		return w + " registreret"
	}
	if kind != "" {
		return "Evaluering (" + kind + ") registreret"
	}
	return "Evaluering registreret"
}

// evaluationHeadEn is "Evaluation (midway) recorded".
func evaluationHeadEn(kind string) string {
	return "Evaluation" + paren(kind) + " recorded"
}

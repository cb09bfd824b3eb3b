package evaluation

import (
	"fmt"
	"strings"
)

// Markdown is docs/EVALUATION.md: the catalog of measures with their
// definitions in Danish and English, and the rules every figure follows.
// A test holds the file to it.
func Markdown() string {
	var b strings.Builder
	b.WriteString(`# Evaluation: the catalog of measures

<!-- Generated from services/internal/evaluation (catalog.go) by
     UPDATE_EVALUATION_DOC=1 go test ./internal/evaluation/; do not edit. -->

` + "`GET /v1/evaluation?asOf=&knownAt=&suppress=&format=json|csv`" + ` (analysts and auditors) answers
every measure below at one moment, ` + "`GET /v1/evaluation/series?from=&to=&step=month|quarter&knownAt=&suppress=&format=json|csv`" + `
at every month or quarter from ` + "`from`" + ` to ` + "`to`" + ` (both required; ` + "`step`" + ` month by default; at most ` + fmt.Sprint(MaxPoints) + ` moments). The web app's
` + "`/app/evaluation`" + ` shows analysts and auditors the main measures month by month as
charts with their tables and CSV, always suppressed.

- **asOf** (a date, meaning that day at 00:00 in Copenhagen, or an RFC 3339 time, from 1900 to 2200; default now):
  the figures describe what had happened by then, on the events' CloudEvents ` + "`time`" + `.
  Each family's events are folded in the order of their time, then stream sequence,
  so a backfilled event counts from when it happened. Every date the evaluation reads
  is a day in Copenhagen (Europe/Copenhagen), the municipality's: ` + "`asOf=2024-03-01`" + ` is
  2024-02-29T23:00:00Z, and the answer gives it so (answers give times in UTC).
- **Series**: ` + "`from`" + ` and ` + "`to`" + ` are read as asOf is. The moments step by
  Copenhagen's months, at ` + "`from`" + `'s time of day there, so a series from a date is
  at Copenhagen's midnights in winter and in summer; a day a month lacks is its last
  (from 31 January: 29 February, 31 March). The web app's dates are Copenhagen's days
  too, and its default period (24 months) ends today, Copenhagen's day.
- **knownAt** (RFC 3339, from 1900 to 2200, default now; a knownAt after now is now, as
  the answer gives it): only events recorded (JetStream timestamp) by
  then count, so a published figure can be computed again, identically, after later
  backfills. ` + "`position`" + ` is the stream sequence the read model had applied. One
  exception: an event the projector quarantined, and an operator re-drives later, counts
  from its own recording, so a figure at a knownAt between the two changes with the
  re-drive.
- **The course** began, as events/family has it, at the earlier of its
  ` + "`family.enrolled`" + `'s time and the first moment in Copenhagen of its ` + "`courseStart`" + `
  day (an enrolment recorded after the course began), never before the previous course
  ended; it runs to the time of ` + "`course.ended`" + ` (or asOf). A family counts as
  enrolled, active or ended from its ` + "`family.enrolled`" + `'s time (the enrolment had not
  happened before); what its course counts (activities started, benefit exits,
  assignments, public support, school absence) counts from when the course began, and
  the benefits the enrolment names (` + "`parentBenefits`" + `) are public support from then,
  as if the enrolment had come first: one the parent was on already runs as its
  ` + "`benefit.granted`" + ` and ` + "`benefit.ended`" + ` have it (ended since the course began, it is
  not reopened); one the parent was not on runs to its first ` + "`benefit.ended`" + ` dated from
  the course's start on, even one dated before the enrolment (a benefit exit then), or
  on into its next ` + "`benefit.granted`" + `. Time on two benefits at once counts once. The day a course
  began or ended, against which school absence periods are split, is its day in
  Copenhagen. Measures "per course" use each family's latest course.
- **Suppression** (` + "`suppress=true`" + `, the default): a count of families, persons,
  children or child cases from 1 to 4, and any aggregate resting on 1 to 4 units, is
  ` + "`\"value\":null,\"suppressed\":true,\"count\":0`" + ` (the count would give it away). A
  zero is shown. A share of parents or children that each count in or not (the
  ` + "`parents.*.share`" + ` measures and the children's ` + "`over10pct`" + ` and ` + "`unauthorised15pct`" + `
  shares) is, with its count, a count of persons: it is suppressed also when the persons
  it counts in, or those it leaves out, are 1 to 4 (0.2 of 5 parents is 1 parent, 0.8 of
  10 leaves 2); how many it counts in is never published. Every figure also keeps how
  many families its units (for a count, what it counts) come from, and is suppressed
  when they are 1 to 4 families: five children of one family are still one family's
  figure. So is a share whose persons counted in, or left out, come from 1 to 4
  families. The number of families is not published either.
  Complementary suppression: for each additive relation below, when
  exactly one of its cells is suppressed, the smallest shown positive part (else
  total) is suppressed too, until none can be derived. An aggregate whose count is
  always a count of the catalog (below) is suppressed with that count. The threshold (5) is
  ` + "`-evaluation-threshold`" + ` / ` + "`JF_EVALUATION_THRESHOLD`" + `, the target (50)
  ` + "`-evaluation-target`" + ` / ` + "`JF_EVALUATION_TARGET`" + `. ` + "`suppress=false`" + `
  gives exact figures to analysts and auditors and is first written to the access log
  (` + "`access.bulk.evaluation`" + `, with ` + "`X-Purpose`" + `).
- ` + "`count`" + ` is the number of units a figure rests on (families, persons, children,
  answers); for a count it is the value itself; 0 when suppressed. A mean or share over no unit has
  ` + "`\"value\":null`" + ` and is not suppressed.

How the figures are computed:

- The projector holds the events of the types the measures below name, as its read
  model's timeline stores them (so ` + "`audit verify`" + ` covers what they rest on), in an
  index in memory: family by family, each family's events in the order the fold reads
  them. Of each event it holds only what the measures read (its kind, ids, dates and
  day counts), never a personal free text such as a goal's title. Its consumer adds
  each batch's events once the batch is committed. A projector that stops keeps the
  index in a file beside its read model, and its next start reads it back, then only
  the rows after it (when the file was written from the same model, whose rows up to
  there are unchanged). What the index lacks (after a start without such a file, a
  rebuild or a redrive, each of which empties it) is read from the timeline's rows in
  the background once the projector is ready, or by the first request that needs it.
  An erasure rewrites only personal fields, which the index does not hold, so it keeps
  the index. An evaluation is one pass over the index; a series folds each family once for all
  its moments. ` + "`position`" + ` is the last sequence the index holds.
- The figures are checked against a second computation, independent of the fold, over
  a replay of the stream (the demo's families, and families enrolled days after their
  course began, with what happened in between recorded after the enrolment, at several
  asOf and knownAt; every measure, equal), and against hand-computed figures of a small
  scenario (backfills through knownAt, re-enrolment, a course that ends, a child case
  closed before the end).
- The web app's tables give each mean, share and sum of goals with its count
  ("n = 12"): no figure without its count.

A known limit: suppression protects each answer, one moment at a time, not what
several answers give together. Two moments whose figures differ by one family give
that family away: with five families' satisfaction answers shown at one asOf and six
one second later, 6 × the second mean − 5 × the first is the sixth family's own answer.
The same holds for two knownAt around a backfill, for neighbouring moments of a series
(a month in which one family answered), and for a suppressed figure against its
complement at another moment. The API lets an analyst or auditor choose any pair of
moments, and suppressed answers are not access-logged (exact ones are). What an
operator can do: give the API only to those trusted with exact figures anyway, and
publish figures outside them only at fixed moments chosen in advance (month ends,
each with its knownAt recorded), never at moments chosen after the fact. That narrows
which differences can be taken; it does not close them: two published months that
differ by one family still give it away. Before publishing, compare each figure's
count with the previous publication's and hold back one that moved by 1 to 4 (that
does not catch one family's five children). Closing the gap in the software would need
suppression across the published moments, or noise; neither is implemented.

Relations used for complementary suppression. The goals' relations are exact while
every goal names one domain; a goal of several domains counts in each, and the
domains then add up to more than the total. They are kept all the same: with
single-domain goals a hidden domain would follow from the others.

`)
	for _, r := range Relations {
		fmt.Fprintf(&b, "- %s = %s\n", strings.Join(quote(r.Totals), " + "), strings.Join(quote(r.Parts), " + "))
	}
	b.WriteString("\nAggregates whose count is always a count of the catalog:\n\n")
	for _, d := range Catalog {
		if c, ok := SameUnits[d.Name]; ok {
			fmt.Fprintf(&b, "- the count of `%s` is `%s`\n", d.Name, c)
		}
	}
	b.WriteString("\n## Measures\n\n| measure | unit | units counted | dansk | English |\n|---|---|---|---|---|\n")
	for _, d := range Catalog {
		of := d.CountOf
		switch d.Kind {
		case Config:
			of = "—"
		case Count:
			of = "(the value)"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s |\n", d.Name, d.Unit, of, d.Da, d.En)
	}
	return b.String()
}

func quote(ns []string) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = "`" + n + "`"
	}
	return out
}

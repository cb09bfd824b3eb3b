package evaluation

// Unit is what a measure's value counts or measures.
type Unit string

// The units of the catalog.
const (
	Families        Unit = "families"
	Persons         Unit = "persons"
	Children        Unit = "children"
	ChildCases      Unit = "child cases"
	Goals           Unit = "goals"
	Days            Unit = "days"
	Share           Unit = "share"
	PerFamily       Unit = "per family"
	FullTimePersons Unit = "full-time persons"
	Score           Unit = "score 1-5"
)

// Kind says how a measure is suppressed.
type Kind int

const (
	// Config is a figure from the configuration, never suppressed.
	Config Kind = iota
	// Count is a count of families, persons, children or child cases: a
	// value of 1 up to the threshold is suppressed.
	Count
	// Aggregate is a mean, median, share, sum of fractions or a count of
	// goals over Measure.Count units (families, persons, children,
	// answers): suppressed when 1 up to the threshold units contribute.
	Aggregate
	// Proportion is a share of units (parents, children) each of which
	// counts in or not: an Aggregate whose units counted in
	// (Measure's countedIn) and counted out are counts of persons too, so
	// it is also suppressed when either is 1 up to the threshold (the
	// share and its count would give that count away).
	Proportion
)

// Definition is one measure of the catalog, with its definition in Danish
// and English as docs/EVALUATION.md publishes it.
type Definition struct {
	Name string
	Unit Unit
	Kind Kind
	// CountOf names what Measure.Count counts for an aggregate.
	CountOf string
	Da, En  string
}

// Relation is an additive identity between measures: the sum of Totals
// equals the sum of Parts. Complementary suppression keeps any suppressed
// cell of a relation from being derived from the others.
type Relation struct{ Totals, Parts []string }

// GoalDomains and GoalExpressedBy are the goal.set enumerations.
var (
	GoalDomains     = []string{"employment", "education", "child-wellbeing", "school", "health", "family", "economy"}
	GoalExpressedBy = []string{"family", "professional"}
	// EmploymentKinds are employment.started's kinds.
	EmploymentKinds = []string{"ordinary", "flexjob", "small-job", "fritidsjob"}
)

// Catalog is every measure, in the order answers and documents list them.
var Catalog = buildCatalog()

// Relations are the additive identities among the catalog's counts.
var Relations = buildRelations()

// SameUnits maps an aggregate to the count whose units its Measure.Count
// counts, always: the aggregate's count is that figure again, so it is
// suppressed whenever that count is.
var SameUnits = map[string]string{
	"measures.openPerFamily.atEnrolment":   "families.enrolled",
	"measures.openPerFamily.atEnd":         "families.ended",
	"childCases.openPerFamily.atEnrolment": "families.enrolled",
	"childCases.openPerFamily.atEnd":       "families.ended",
	"caseworker.changesPerFamily":          "families.enrolled",
	"makkerpar.changesPerFamily":           "families.enrolled",
}

func buildCatalog() []Definition {
	c := []Definition{
		{"families.target", Families, Config, "",
			"Målet for antal familier i forløbet (fra konfigurationen; investeringscasen: 50).",
			"The target number of families in the course (from the configuration; the investment case: 50)."},
		{"families.referred", Families, Count, "",
			"Familier, der er visiteret (family.referred) og ikke er i et aktivt forløb på opgørelsestidspunktet; også en familie, der er visiteret igen efter et afsluttet forløb.",
			"Families referred (family.referred) and not in an active course at asOf; also a family referred again after a course ended."},
		{"families.enrolled", Families, Count, "",
			"Familier, der er indskrevet (family.enrolled) mindst én gang inden opgørelsestidspunktet. Altid aktive + afsluttede.",
			"Families enrolled (family.enrolled) at least once by asOf. Always active + ended."},
		{"families.active", Families, Count, "",
			"Familier, hvis seneste forløb kører på opgørelsestidspunktet (indskrevet, ikke afsluttet med course.ended).",
			"Families whose latest course runs at asOf (enrolled, not ended by course.ended)."},
		{"families.ended", Families, Count, "",
			"Familier, hvis seneste forløb er afsluttet (course.ended) inden opgørelsestidspunktet, og som ikke er indskrevet igen.",
			"Families whose latest course ended (course.ended) by asOf and that have not been enrolled again."},
		{"childCases.open", ChildCases, Count, "",
			"Åbne børnesager (childcase.opened eller nævnt ved indskrivningen, ikke lukket) i aktive familier.",
			"Open child cases (childcase.opened or named at enrolment, not closed) of active families."},
		{"referralToEnrolment.medianDays", Days, Aggregate, "families",
			"Median af dage fra den seneste visitation før familiens første indskrivning til indskrivningen, for indskrevne familier med en visitation.",
			"Median days from the latest referral before a family's first enrolment to that enrolment, over enrolled families with a referral."},
		{"measures.openPerFamily.atEnrolment", PerFamily, Aggregate, "families",
			"Gennemsnitligt antal åbne foranstaltninger (measure.started, ikke afsluttet) pr. familie lige efter indskrivningen i det seneste forløb.",
			"Mean number of open measures (measure.started, not ended) per family just after the enrolment of its latest course."},
		{"measures.openPerFamily.midway", PerFamily, Aggregate, "families",
			"Gennemsnitligt antal åbne foranstaltninger pr. familie midtvejs i det seneste forløb (start plus halvdelen af den planlagte længde, courseStart til planlagt slut; uden planlagt slut: ét år efter start; dog ikke før indskrivningen), for familier, hvis forløb har nået midtvejs og ikke er afsluttet før.",
			"Mean number of open measures per family midway through its latest course (half its planned length, courseStart to plannedEnd, after its start; without a planned end, one year after start; never before its enrolment), over families whose course has reached midway without ending before it."},
		{"measures.openPerFamily.atEnd", PerFamily, Aggregate, "families",
			"Gennemsnitligt antal åbne foranstaltninger pr. familie ved afslutningen af det seneste forløb, for afsluttede familier.",
			"Mean number of open measures per family at the end of its latest course, over ended families."},
		{"childCases.openPerFamily.atEnrolment", PerFamily, Aggregate, "families",
			"Gennemsnitligt antal åbne børnesager (childcase.opened eller nævnt ved indskrivningen, ikke lukket) pr. familie lige efter indskrivningen i det seneste forløb.",
			"Mean number of open child cases (childcase.opened or named at enrolment, not closed) per family just after the enrolment of its latest course."},
		{"childCases.openPerFamily.midway", PerFamily, Aggregate, "families",
			"Gennemsnitligt antal åbne børnesager pr. familie midtvejs i det seneste forløb (som for foranstaltningerne), for familier, hvis forløb har nået midtvejs og ikke er afsluttet før.",
			"Mean number of open child cases per family midway through its latest course (the moment the measures' midway uses), over families whose course has reached midway without ending before it."},
		{"childCases.openPerFamily.atEnd", PerFamily, Aggregate, "families",
			"Gennemsnitligt antal åbne børnesager pr. familie ved afslutningen af det seneste forløb, for afsluttede familier.",
			"Mean number of open child cases per family at the end of its latest course, over ended families."},
	}
	parentShare := func(name, da, en string) Definition {
		return Definition{"parents." + name + ".share", Share, Proportion, "parents",
			"Andel af forældrene i indskrevne familier (aktive og afsluttede, seneste forløb), der " + da + " under forløbet (fra forløbets start til afslutning eller opgørelsestidspunktet).",
			"Share of the parents of enrolled families (active and ended, latest course) who " + en + " during the course (from its start to its end or asOf)."}
	}
	c = append(c,
		parentShare("praktik", "har startet en praktik (praktik.started)", "started a praktik (praktik.started)"),
		parentShare("wageSubsidy", "har startet et løntilskud (wagesubsidy.started)", "started a wage subsidy (wagesubsidy.started)"),
		parentShare("languageCourse", "har startet et sprogkursus (languagecourse.started)", "started a language course (languagecourse.started)"),
		parentShare("job", "har fået job af enhver art (employment.started)", "started a job of any kind (employment.started)"),
	)
	for _, k := range EmploymentKinds {
		c = append(c, parentShare("job."+k, "har fået job af arten "+k, "started a job of kind "+k))
	}
	c = append(c,
		parentShare("education", "har startet en uddannelse (education.started)", "started an education (education.started)"),
		Definition{"benefitExits.employment", Persons, Count, "",
			"Forældre i indskrevne familier, der under forløbet er gået fra en ydelse til beskæftigelse (benefit.ended med årsag employment).",
			"Parents of enrolled families who left a benefit for employment during the course (benefit.ended, reason employment)."},
		Definition{"benefitExits.education", Persons, Count, "",
			"Forældre i indskrevne familier, der under forløbet er gået fra en ydelse til uddannelse (benefit.ended med årsag education).",
			"Parents of enrolled families who left a benefit for education during the course (benefit.ended, reason education)."},
		Definition{"publicSupport.before.fullTimePersons", FullTimePersons, Aggregate, "parents",
			"Forældres tid på offentlig forsørgelse i de 52 uger før forløbets start, som helårspersoner: for hver forælder uger på en ydelse ÷ uger i perioden, summeret.",
			"Parents' time on public support in the 52 weeks before the course started, as full-time persons: per parent, weeks on a benefit ÷ weeks in the period, summed."},
		Definition{"publicSupport.during.fullTimePersons", FullTimePersons, Aggregate, "parents",
			"Forældres tid på offentlig forsørgelse under forløbet (fra start til afslutning eller opgørelsestidspunktet), som helårspersoner.",
			"Parents' time on public support during the course (from its start to its end or asOf), as full-time persons."},
	)
	for _, p := range []struct{ name, da, en string }{{"before", "før forløbet (perioder, der slutter før startdagen)", "before the course (periods that end before the day it started)"},
		{"during", "under forløbet (perioder, der slutter på eller efter startdagen og begynder senest på afslutningsdagen)", "during the course (periods that end on or after the day it started and begin by the day it ended)"}} {
		c = append(c,
			Definition{"children.absence." + p.name + ".meanShare", Share, Aggregate, "children",
				"Børns gennemsnitlige fraværsandel " + p.da + ": pr. barn fraværsdage ÷ skoledage (schoolabsence.noted), gennemsnit over børn med data.",
				"Children's mean school absence share " + p.en + ": per child, absent days ÷ school days (schoolabsence.noted), averaged over children with data."},
			Definition{"children.absence." + p.name + ".over10pct.share", Share, Proportion, "children",
				"Andel af børn med data, hvis fravær " + p.da + " er over 10 %.",
				"Share of children with data whose absence " + p.en + " is above 10 %."},
			Definition{"children.absence." + p.name + ".unauthorised15pct.share", Share, Proportion, "children",
				"Andel af børn med data, hvis ulovlige fravær " + p.da + " er mindst 15 %.",
				"Share of children with data whose unauthorised absence " + p.en + " is 15 % or more."},
		)
	}
	for _, what := range []struct{ name, da, en string }{{"set", "sat (goal.set)", "set (goal.set)"}, {"achieved", "nået (goal.closed med udfald achieved)", "achieved (goal.closed, outcome achieved)"}} {
		for _, d := range GoalDomains {
			c = append(c, Definition{"goals." + what.name + ".domain." + d, Goals, Aggregate, "families",
				"Mål i Familiens Plan " + what.da + " inden for domænet " + d + "; et mål med flere domæner tælles i hvert.",
				"Goals of Familiens Plan " + what.en + " in the domain " + d + "; a goal of several domains counts in each."})
		}
		for _, b := range GoalExpressedBy {
			c = append(c, Definition{"goals." + what.name + ".expressedBy." + b, Goals, Aggregate, "families",
				"Mål i Familiens Plan " + what.da + ", udtrykt af " + map[string]string{"family": "familien", "professional": "en fagperson"}[b] + ".",
				"Goals of Familiens Plan " + what.en + ", expressed by " + map[string]string{"family": "the family", "professional": "a professional"}[b] + "."})
		}
	}
	c = append(c,
		Definition{"caseworker.changesPerFamily", PerFamily, Aggregate, "families",
			"Gennemsnitligt antal skift af sagsbehandler pr. indskreven familie i det seneste forløb (caseworker.assigned efter den første).",
			"Mean number of caseworker changes per enrolled family in its latest course (caseworker.assigned after the first)."},
		Definition{"makkerpar.changesPerFamily", PerFamily, Aggregate, "families",
			"Gennemsnitligt antal skift af makkerpar pr. indskreven familie i det seneste forløb (makkerpar.assigned efter det første).",
			"Mean number of makkerpar changes per enrolled family in its latest course (makkerpar.assigned after the first)."},
		Definition{"satisfaction.family.mean", Score, Aggregate, "families answering",
			"Familiens tilfredshed (1–5), gennemsnit af hver families seneste svar (evaluation.recorded).",
			"Family satisfaction (1–5), the mean of each family's latest answer (evaluation.recorded)."},
		Definition{"wellbeing.child.mean", Score, Aggregate, "families answering",
			"Børnenes trivsel (1–5), gennemsnit af hver families seneste svar (evaluation.recorded).",
			"Children's well-being (1–5), the mean of each family's latest answer (evaluation.recorded)."},
	)
	return c
}

func buildRelations() []Relation {
	rs := []Relation{{Totals: []string{"families.enrolled"}, Parts: []string{"families.active", "families.ended"}}}
	for _, what := range []string{"set", "achieved"} {
		var d, b []string
		for _, x := range GoalDomains {
			d = append(d, "goals."+what+".domain."+x)
		}
		for _, x := range GoalExpressedBy {
			b = append(b, "goals."+what+".expressedBy."+x)
		}
		rs = append(rs, Relation{Totals: b, Parts: d})
	}
	return rs
}

// Lookup returns the definition of name.
func Lookup(name string) (Definition, bool) {
	for _, d := range Catalog {
		if d.Name == name {
			return d, true
		}
	}
	return Definition{}, false
}

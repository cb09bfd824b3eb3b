package demo

// The demo's free text: short Danish lines of the kind caseworkers write,
// without names, CPR numbers or diagnoses (DOMAIN.md).

var referralReasons = []string{
	"Flere samtidige foranstaltninger og langvarig ledighed hos forældrene",
	"Højt skolefravær og behov for en samlet indsats på tværs af forvaltningerne",
	"Mange kontakter til forskellige forvaltninger uden en fælles plan",
	"Familien ønsker hjælp til at komme i job og få ro i hverdagen",
	"Bekymring for børnenes trivsel og forældrenes tilknytning til arbejdsmarkedet",
}

var referralNotes = []string{
	"Henvist efter netværksmøde på skolen",
	"Familien er selv positiv over for forløbet",
	"Drøftet på tværfagligt visitationsmøde",
}

var caseCloseReasons = []string{
	"Formålet med indsatsen er opnået",
	"Støtten videreføres som forebyggende indsats i almenområdet",
}

var goalTitles = map[string][]string{
	"employment": {
		"Jeg vil have et arbejde med faste timer",
		"Jeg vil i praktik i en butik og se, om det er noget for mig",
		"Komme ud på arbejdsmarkedet med en stilling med løntilskud",
		"Jeg vil arbejde mindst 15 timer om ugen",
	},
	"education": {
		"Jeg vil tage en uddannelse som SOSU-hjælper",
		"Afklare uddannelsesønsker og søge ind til august",
	},
	"school": {
		"Barnet skal komme i skole hver dag og til tiden",
		"Fraværet skal ned under 5 procent",
		"Bedre samarbejde mellem hjem og skole",
	},
	"child-wellbeing": {
		"Barnet skal have mindst én god ven og trives i klassen",
		"Barnet skal have en fritidsaktivitet, det glæder sig til",
		"Færre konflikter og mere ro ved sengetid",
	},
	"family": {
		"Faste rutiner ved aftensmad og sengetid",
		"Mindre konflikt derhjemme og mere tid sammen",
		"Vi vil lave noget sjovt sammen hver weekend",
	},
	"health": {
		"Jeg vil have mindre ondt i ryggen, så jeg kan arbejde",
		"Bedre søvn og mere energi i hverdagen",
		"Komme i gang med motion to gange om ugen",
	},
	"economy": {
		"Ingen restance på huslejen",
		"Lave et budget sammen og holde det",
		"Få overblik over gælden og en aftale om afdrag",
	},
}

var progressNotes = []string{
	"Godt fremmøde de sidste uger",
	"Drøftet på familiemødet; familien oplever fremgang",
	"Svær periode med sygdom i familien",
	"Aftalt nye delmål med familien",
	"Skolen melder om bedre trivsel",
}

var programmes = []string{
	"SOSU-hjælper",
	"Pædagogisk assistentuddannelse (PAU)",
	"Erhvervsgrunduddannelse (EGU)",
	"Forberedende grunduddannelse (FGU)",
	"AMU: lager og logistik",
}

var healthServices = []string{
	"physiotherapy", "psychologist", "exercise-on-prescription", "smoking-cessation", "diet-counselling", "pain-clinic",
}

var pprReasons = []string{
	"Koncentrationsvanskeligheder i undervisningen",
	"Bekymring for trivsel og skolefravær",
	"Behov for vurdering af læsevanskeligheder",
}

var leisure = []struct{ kind, name string }{
	{"club", "Tingbjerg Ungdomsklub"},
	{"sport", "Fodbold i den lokale boldklub"},
	{"sport", "Svømning i Bellahøj Svømmestadion"},
	{"pocket-money", "Lommepengejob i boligforeningen"},
	{"other", "Lektiecafé på biblioteket"},
}

var evaluationNotes = []string{
	"Familien oplever færre skift i kontaktpersoner og én samlet plan",
	"Fremmødet i skolen er forbedret siden forløbets start",
	"En forælder er i praktik, og familien har fået mere ro i hverdagen",
	"Familien er tilfreds med makkerparret; økonomien er stadig presset",
}

var endNotes = map[string]string{
	"dropped-out":  "Familien ønskede ikke at fortsætte forløbet",
	"moved":        "Familien er fraflyttet kommunen; sagen er overdraget",
	"not-eligible": "Familien opfylder ikke længere betingelserne for forløbet",
}

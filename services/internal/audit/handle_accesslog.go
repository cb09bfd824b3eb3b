package audit

import "net/http"

// handleAccessLog is GET /v1/audit/access-log?family=&from=&to=: the
// entries of ACCESS_LOG, each as stored with its sequence and recordedAt,
// as JSON Lines (records, not CloudEvents: see AppendRecordLine). Reading the access log is not itself logged: it holds no
// family data.
func (s *Service) handleAccessLog(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.auditor(r); err != nil {
		return err
	}
	q := r.URL.Query()
	if err := checkParams(q, "family", "from", "to"); err != nil {
		return err
	}
	var (
		aq  AccessQuery
		err error
	)
	if aq.FamilyID, err = familyParam(q); err != nil {
		return err
	}
	if aq.From, aq.To, err = parseRange(q); err != nil {
		return err
	}
	ctx := r.Context()
	return s.streamLines(w, r, "access-log", AppendRecordLine, func(emit func(Stored) error) error {
		return s.reader.AccessLog(ctx, aq, emit)
	})
}

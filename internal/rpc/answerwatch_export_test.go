package rpc

// AnswerBacklog returns the bytes of large answers reserved for requests being handled
// or held for peers until written to them (0 without Limits.MaxAnswerBytes). Only tests
// read it this way; the server's metrics read the same gauge (metrics.RPC.SetAnswerBacklog).
func (s *Server) AnswerBacklog() int64 {
	if s.answers == nil {
		return 0
	}
	return s.answers.backlog()
}

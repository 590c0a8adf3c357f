package worker

// ReusedExecutions returns the number of confirmed blocks w applied from the execution
// it kept when it voted for or staged them, instead of executing them again.
func ReusedExecutions(w *Worker) uint64 { return w.reused.Load() }

package testenv

import (
	"bytes"
	"fmt"
	"runtime"
	"testing"
	"time"
)

// HangReport ends the test binary when the test t is still running after
// d, with the test's name and the stacks of the goroutines that run the
// project's code (the others, nats-server's and the runtime's, are left
// out). A test that hangs then fails with what it waits for, short enough
// to read at the end of the output, long before go test's -timeout, whose
// dump of every goroutine buries it. d bounds a test that otherwise never
// takes a tenth of it.
func HangReport(t testing.TB, d time.Duration) {
	t.Helper()
	name := t.Name()
	timer := time.AfterFunc(d, func() {
		panic(fmt.Sprintf("%s still running after %v; the goroutines in the project's code:\n\n%s", name, d, projectStacks()))
	})
	t.Cleanup(func() { timer.Stop() })
}

// projectStacks is every goroutine's stack that has a frame of the
// project's code.
func projectStacks() []byte {
	buf := make([]byte, 64<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out bytes.Buffer
	for _, g := range bytes.Split(buf, []byte("\n\n")) {
		if bytes.Contains(g, []byte("kk.dk/jobogfamilie/")) && !bytes.Contains(g, []byte("testenv.projectStacks")) {
			out.Write(g)
			out.WriteString("\n\n")
		}
	}
	return out.Bytes()
}

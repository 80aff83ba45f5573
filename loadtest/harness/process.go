package harness

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"
)

// process is an earshot build running `earshot run` as a child process,
// so that its CPU time and memory are its own. Its log goes to a file; the
// admin listener's address is read from its "earshot running" line.
// startProcess starts it; stop ends it (SIGTERM, then SIGKILL).
type process struct {
	cmd   *exec.Cmd
	admin chan string   // receives the admin address once
	done  chan struct{} // closed when the process has exited and its log is written

	mu   sync.Mutex
	tail []string // last lines of its log, for errors
	err  error    // from Wait
}

// tailLines is how many log lines an error quotes.
const tailLines = 15

var textAdminRE = regexp.MustCompile(`\badmin=(\S+)`)

// startProcess runs bin with args and env (added to the harness's
// environment) and writes its output to logPath.
func startProcess(bin string, args, env []string, logPath string) (*process, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.StderrPipe()
	if err != nil {
		logFile.Close()
		return nil, err
	}
	cmd.Stdout = logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	p := &process{cmd: cmd, admin: make(chan string, 1), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		p.readLog(out, logFile)
		err := cmd.Wait()
		logFile.Close()
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
	}()
	return p, nil
}

// readLog copies the process's log to w until it closes, keeps its tail and
// finds the admin address.
func (p *process) readLog(r io.Reader, w io.Writer) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	found := false
	for sc.Scan() {
		line := sc.Text()
		fmt.Fprintln(w, line)
		p.mu.Lock()
		p.tail = append(p.tail, line)
		if len(p.tail) > tailLines {
			p.tail = p.tail[1:]
		}
		p.mu.Unlock()
		if !found {
			if addr := adminAddr(line); addr != "" {
				p.admin <- addr
				found = true
			}
		}
	}
	io.Copy(io.Discard, r) // a line over 1 MiB: keep the pipe flowing
}

// adminAddr returns the admin address of an "earshot running" log line,
// JSON or text, or "".
func adminAddr(line string) string {
	if !strings.Contains(line, "earshot running") {
		return ""
	}
	var m struct{ Admin string }
	if json.Unmarshal([]byte(line), &m) == nil && m.Admin != "" {
		return m.Admin
	}
	if sub := textAdminRE.FindStringSubmatch(line); sub != nil {
		return strings.Trim(sub[1], `"`)
	}
	return ""
}

// PID is the process id.
func (p *process) PID() int { return p.cmd.Process.Pid }

// waitAdmin waits for the admin listener's address.
func (p *process) waitAdmin(ctx context.Context, timeout time.Duration) (string, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case addr := <-p.admin:
		return addr, nil
	case <-p.done:
		return "", fmt.Errorf("earshot exited before it was running (%v); its log ends:\n%s", p.waitErr(), p.logTail())
	case <-t.C:
		return "", fmt.Errorf("earshot logged no \"earshot running\" line with its admin address within %v; its log ends:\n%s", timeout, p.logTail())
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// exited reports whether the process has exited.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM, waits up to grace for the process to exit, kills it
// otherwise, and returns its exit status (-1 when killed by a signal).
func (p *process) stop(grace time.Duration) int {
	terminate(p.cmd, p.done, grace)
	return p.cmd.ProcessState.ExitCode()
}

// terminate sends cmd SIGTERM and waits for done, closed once it has
// exited; after grace it kills it.
func terminate(cmd *exec.Cmd, done <-chan struct{}, grace time.Duration) {
	cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		cmd.Process.Kill()
		<-done
	}
}

func (p *process) waitErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var exit *exec.ExitError
	if errors.As(p.err, &exit) {
		return fmt.Errorf("exit status %d", exit.ExitCode())
	}
	return p.err
}

// logTail returns the last lines of the process's log.
func (p *process) logTail() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return "  " + strings.Join(p.tail, "\n  ")
}

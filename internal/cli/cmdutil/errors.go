// Package cmdutil holds what every xfeat command shares: the Factory of lazily
// built dependencies, the mapping of typed errors to exit codes, and the
// -o table|json output flag.
package cmdutil

import (
	"errors"
	"fmt"
)

// ExitCode is the process exit status. The values are documented in xfeat(1)
// and relied on by scripts: keep them stable.
type ExitCode int

const (
	ExitOK      ExitCode = 0 // success
	ExitError   ExitCode = 1 // any failure, an invalid config or spec included
	ExitUsage   ExitCode = 2 // bad command line: unknown flag, wrong arguments
	ExitTimeout ExitCode = 3 // gave up waiting (devices not Connected in time)
)

// FlagError is a usage error: the command line itself is wrong. It exits 2
// and prints the command's usage hint.
type FlagError struct{ Err error }

func (e *FlagError) Error() string { return e.Err.Error() }
func (e *FlagError) Unwrap() error { return e.Err }

// FlagErrorf builds a FlagError.
func FlagErrorf(format string, args ...any) error {
	return &FlagError{Err: fmt.Errorf(format, args...)}
}

// SilentError exits with Code after the command already printed everything the
// user needs (for example every diagnostic of a config file).
type SilentError struct{ Code ExitCode }

func (e *SilentError) Error() string { return fmt.Sprintf("exit status %d", e.Code) }

// ErrSilent is a SilentError with ExitError.
var ErrSilent error = &SilentError{Code: ExitError}

// TimeoutError is a failure to reach a state in time; it exits 3.
type TimeoutError struct{ Err error }

func (e *TimeoutError) Error() string { return e.Err.Error() }
func (e *TimeoutError) Unwrap() error { return e.Err }

// ExitCodeOf maps an error returned by a command to the process exit status.
func ExitCodeOf(err error) ExitCode {
	if err == nil {
		return ExitOK
	}
	var se *SilentError
	if errors.As(err, &se) {
		return se.Code
	}
	var fe *FlagError
	if errors.As(err, &fe) {
		return ExitUsage
	}
	var te *TimeoutError
	if errors.As(err, &te) {
		return ExitTimeout
	}
	return ExitError
}

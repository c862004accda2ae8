package cmdutil

import "github.com/spf13/cobra"

// ExactArgs is cobra.ExactArgs whose failure is a usage error (exit 2).
func ExactArgs(n int) cobra.PositionalArgs {
	return wrapArgs(cobra.ExactArgs(n))
}

// MinimumNArgs is cobra.MinimumNArgs whose failure is a usage error (exit 2).
func MinimumNArgs(n int) cobra.PositionalArgs {
	return wrapArgs(cobra.MinimumNArgs(n))
}

// RangeArgs is cobra.RangeArgs whose failure is a usage error (exit 2).
func RangeArgs(min, max int) cobra.PositionalArgs {
	return wrapArgs(cobra.RangeArgs(min, max))
}

// NoArgs is cobra.NoArgs whose failure is a usage error (exit 2).
func NoArgs(cmd *cobra.Command, args []string) error {
	return wrapArgs(cobra.NoArgs)(cmd, args)
}

func wrapArgs(f cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := f(cmd, args); err != nil {
			return &FlagError{Err: err}
		}
		return nil
	}
}

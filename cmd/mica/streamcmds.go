package main

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/rpc"
)

// Event stream commands: what a user needs to see a chain's events and subscriptions.

func streamCommands() []*cobra.Command {
	return []*cobra.Command{showEventsCommand(), showSubscriptionsCommand(), processStreamsCommand()}
}

func processStreamsCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "process-streams [CHAIN]",
		Short: "Process the chain's inbox and subscribed streams now, then each time a publisher chain announces new events of a subscribed stream (Ctrl-C to stop)",
		Long: `Process the chain's inbox and the streams it subscribes to now, then each time a
publisher chain announces new events of a subscribed stream (at most 64 publishers are
listened to; process-inbox processes them all), until Ctrl-C.

process-streams does not keep the wallet open: other commands can use the same wallet
while it runs. It opens the wallet only to process, waiting while another command has
it open.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			var id base.ChainID
			process := func(s *session) error { return s.processInbox(cmd, id, inboxRun{what: "process streams", quiet: true}) }
			var nodes []*rpc.Node
			var publishers []base.ChainID
			wanted := map[subscribedStream]bool{}
			err := withSession(cmd, walletWait, func(s *session) error {
				var err error
				if id, err = s.chainArg(args, 0); err != nil {
					return err
				}
				if err := process(s); err != nil {
					return err
				}
				subs, err := s.c.LocalSubscriptions(ctx, id)
				if err != nil {
					return err
				}
				for _, sub := range subs {
					if sub.Stream.App == nil {
						continue
					}
					if !slices.Contains(publishers, sub.Publisher) {
						if len(publishers) == maxListenedPublishers {
							fmt.Fprintf(cmd.ErrOrStderr(), "mica: listening to the first %d publisher chains only\n", maxListenedPublishers)
							break
						}
						publishers = append(publishers, sub.Publisher)
					}
					wanted[subscribedStream{sub.Publisher, *sub.Stream.App, string(sub.Stream.Name)}] = true
				}
				if len(publishers) == 0 {
					return fmt.Errorf("chain %s subscribes to no stream", id.Short())
				}
				nodes = s.keepNodes()
				return nil
			})
			defer closeNodes(nodes)
			if err != nil {
				return err
			}
			if len(nodes) == 0 {
				return errors.New("no validator to listen to")
			}
			runs := newKicker()
			var runner sync.WaitGroup
			defer runner.Wait() // a block under way is committed and the wallet released
			runner.Go(func() {
				runs.run(ctx, func() {
					if err := withSession(cmd, -1, process); err != nil && ctx.Err() == nil {
						fmt.Fprintf(cmd.ErrOrStderr(), "process streams: %v\n", err)
					}
				})
			})
			ready := func() {
				fmt.Fprintf(cmd.ErrOrStderr(), "processing the streams of %s as they grow; Ctrl-C to stop\n", id)
			}
			listenNotifications(ctx, cmd.ErrOrStderr(), nodes, publishers, ready, func(n protocol.Notification) {
				if n.Kind == protocol.ReasonNewEvents && wanted[subscribedStream{n.ChainID, n.App, n.StreamName}] {
					runs.kick()
				}
			})
			return nil
		},
	}
}

// subscribedStream is a stream a chain subscribes to: its publisher chain, application
// and name.
type subscribedStream struct {
	publisher base.ChainID
	app       base.ApplicationID
	name      string
}

// maxListenedPublishers bounds the publisher chains process-streams listens to.
const maxListenedPublishers = 64

// maxShownEvents bounds one show-events answer.
const maxShownEvents = 1000

func showEventsCommand() *cobra.Command {
	var app, stream string
	var from, limit uint32
	cmd := &cobra.Command{
		Use:   "show-events CHAIN --application-id APP --stream NAME [--from N] [--limit N]",
		Short: "Sync a chain and print the events of one of its streams",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := base.ParseChainID(args[0])
			if err != nil {
				return err
			}
			appID, err := base.ParseApplicationID(app)
			if err != nil {
				return fmt.Errorf("--application-id: %w", err)
			}
			sid := protocol.StreamID{App: &appID, Name: []byte(stream)}
			if err := protocol.CheckUserStream(&sid); err != nil {
				return fmt.Errorf("--stream: %w", err)
			}
			if limit == 0 || limit > maxShownEvents {
				limit = maxShownEvents
			}
			return syncedChain(cmd, id.String(), false, func(s *session, id base.ChainID, _ syncReport) (any, func(io.Writer), error) {
				ctx := cmd.Context()
				count, err := s.c.LocalStreamCount(ctx, id, sid)
				if err != nil {
					return nil, nil, err
				}
				// An event as the schema's EventView has it, and its text when it is UTF-8.
				type event struct {
					Index       uint32  `json:"index"`
					ValueBase64 string  `json:"valueBase64"`
					Value       *string `json:"value"`
				}
				events := []event{}
				for i := from; i < count && uint32(len(events)) < limit; i++ {
					v, err := s.c.ReadLocalEvent(ctx, protocol.EventID{Chain: id, Stream: sid, Index: i})
					if err != nil {
						return nil, nil, fmt.Errorf("event %d: %w", i, err)
					}
					e := event{Index: i, ValueBase64: base64.StdEncoding.EncodeToString(v)}
					if utf8.Valid(v) {
						text := string(v)
						e.Value = &text
					}
					events = append(events, e)
				}
				res := map[string]any{"chainId": id.String(), "streamApplication": appID.String(), "streamName": stream, "count": count, "events": events}
				return res, func(o io.Writer) {
					fmt.Fprintf(o, "stream %q of application %s on chain %s: %d event(s)\n", stream, appID.String()[:8], id.Short(), count)
					for _, e := range events {
						if e.Value != nil {
							fmt.Fprintf(o, "  %d: %s\n", e.Index, *e.Value)
						} else {
							b, _ := base64.StdEncoding.DecodeString(e.ValueBase64)
							fmt.Fprintf(o, "  %d: 0x%x\n", e.Index, b)
						}
					}
				}, nil
			})
		},
	}
	cmd.Flags().StringVar(&app, "application-id", "", "the application that emits the stream")
	cmd.Flags().StringVar(&stream, "stream", "", "the stream's name")
	cmd.Flags().Uint32Var(&from, "from", 0, "first index to print")
	cmd.Flags().Uint32Var(&limit, "limit", 100, fmt.Sprintf("at most this many events (at most %d)", maxShownEvents))
	return cmd
}

func showSubscriptionsCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "show-subscriptions [CHAIN]",
		Short: "Sync a chain and print the event streams its applications subscribe to, with the next index each will process",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return syncedChain(cmd, strings.Join(args, ""), false, func(s *session, id base.ChainID, _ syncReport) (any, func(io.Writer), error) {
				subs, err := s.c.LocalSubscriptions(cmd.Context(), id)
				if err != nil {
					return nil, nil, err
				}
				rows := []map[string]any{}
				for _, sub := range subs {
					if sub.Stream.App == nil {
						return nil, nil, errors.New("a subscription to a system stream")
					}
					rows = append(rows, map[string]any{"publisher": sub.Publisher.String(), "streamApplication": sub.Stream.App.String(),
						"streamName": string(sub.Stream.Name), "applicationId": sub.App.String(), "nextIndex": sub.NextIndex})
				}
				return map[string]any{"chainId": id.String(), "subscriptions": rows}, func(o io.Writer) {
					fmt.Fprintf(o, "chain %s: %d subscription(s)\n", id.Short(), len(subs))
					for _, sub := range subs {
						fmt.Fprintf(o, "  %q of %s on %s for application %s: next index %d\n", sub.Stream.Name, sub.Stream.App.String()[:8], sub.Publisher.Short(), sub.App.String()[:8], sub.NextIndex)
					}
				}, nil
			})
		},
	}
}

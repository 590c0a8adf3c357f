package main

import (
	"errors"
	"fmt"
	"io"
	"slices"
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
			process := func(s *session) error {
				cc, err := s.chainClient(id)
				if err != nil {
					return err
				}
				cert, err := s.commit(ctx, cc, func() (*protocol.Certificate, error) { return cc.ProcessInbox(ctx) })
				if err != nil || cert == nil {
					return err
				}
				res := certJSON(cert)
				res["summary"] = inboxSummary(cert)
				return out(cmd, res, func(o io.Writer) {
					printCert(o, "process streams", cert)
					fmt.Fprintf(o, "  %s\n", inboxSummary(cert))
				})
			}
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
			fmt.Fprintf(cmd.ErrOrStderr(), "processing the streams of %s as they grow; Ctrl-C to stop\n", id)
			listenNotifications(ctx, nodes, publishers, func(n protocol.Notification) {
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
			s, err := connect(cmd)
			if err != nil {
				return err
			}
			defer s.Close()
			ctx := cmd.Context()
			if _, err := s.c.SyncChain(ctx, id); err != nil {
				return err
			}
			count, err := s.c.LocalStreamCount(ctx, id, sid)
			if err != nil {
				return err
			}
			type event struct {
				Index uint32 `json:"index"`
				Value string `json:"value"`
				Hex   bool   `json:"hex,omitempty"`
			}
			var events []event
			for i := from; i < count && uint32(len(events)) < limit; i++ {
				v, err := s.c.ReadLocalEvent(ctx, protocol.EventID{Chain: id, Stream: sid, Index: i})
				if err != nil {
					return fmt.Errorf("event %d: %w", i, err)
				}
				e := event{Index: i, Value: string(v)}
				if !utf8.Valid(v) {
					e.Value, e.Hex = fmt.Sprintf("%x", v), true
				}
				events = append(events, e)
			}
			res := map[string]any{"chain_id": id.String(), "application_id": appID.String(), "stream": stream, "count": count, "events": events}
			return out(cmd, res, func(o io.Writer) {
				fmt.Fprintf(o, "stream %q of application %s on chain %s: %d event(s)\n", stream, appID.String()[:8], id.Short(), count)
				for _, e := range events {
					if e.Hex {
						fmt.Fprintf(o, "  %d: 0x%s\n", e.Index, e.Value)
					} else {
						fmt.Fprintf(o, "  %d: %s\n", e.Index, e.Value)
					}
				}
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
			s, err := connect(cmd)
			if err != nil {
				return err
			}
			defer s.Close()
			id, err := s.chainArg(args, 0)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if _, err := s.c.SyncChain(ctx, id); err != nil {
				return err
			}
			subs, err := s.c.LocalSubscriptions(ctx, id)
			if err != nil {
				return err
			}
			var rows []map[string]any
			for _, sub := range subs {
				if sub.Stream.App == nil {
					return errors.New("a subscription to a system stream")
				}
				rows = append(rows, map[string]any{"publisher": sub.Publisher.String(), "stream_application_id": sub.Stream.App.String(),
					"stream": string(sub.Stream.Name), "application_id": sub.App.String(), "next_index": sub.NextIndex})
			}
			return out(cmd, map[string]any{"chain_id": id.String(), "subscriptions": rows}, func(o io.Writer) {
				fmt.Fprintf(o, "chain %s: %d subscription(s)\n", id.Short(), len(subs))
				for _, sub := range subs {
					fmt.Fprintf(o, "  %q of %s on %s for application %s: next index %d\n", sub.Stream.Name, sub.Stream.App.String()[:8], sub.Publisher.Short(), sub.App.String()[:8], sub.NextIndex)
				}
			})
		},
	}
}

// inboxSummary describes what the last block of a process-inbox run did.
func inboxSummary(cert *protocol.Certificate) string {
	if cert == nil {
		return ""
	}
	bundles, updates := 0, 0
	for _, tx := range cert.Block.Proposed.Transactions {
		if tx.Bundle != nil {
			bundles++
		} else if u, ok := tx.Operation.System.(*protocol.UpdateStreams); ok {
			updates += len(u.Updates)
		}
	}
	return fmt.Sprintf("the last block received %d bundle(s) and processed %d stream update(s)", bundles, updates)
}

// Package client is the small xDS client govoy.so runs to receive govoy RPC resources (RpcService:
// endpoints and routing rules per service) from govoy-xds over delta ADS. The network filter reads
// the current table lock-free on every call; updates never touch Envoy listeners.
package client

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/govoy/govoy/xds-bridge/client/rpcpb"
)

// TypeURL is the resource type the client subscribes to.
const TypeURL = "type.googleapis.com/govoy.xds.rpc.v1.RpcService"

// Table is an immutable view of every RpcService, by name.
type Table map[string]*rpcpb.RpcService

// Options configure a Client.
type Options struct {
	// Address of govoy-xds (host:port).
	Address string
	// Node identifies this Envoy/govoy.so to the bridge (its cluster selects the node group).
	Node *core.Node
	// OnUpdate, if set, is called with each new table before it becomes current; an error rejects the
	// update (NACK) and keeps the previous table.
	OnUpdate func(Table) error
	// Backoff bounds reconnect delays (default 100ms .. 5s).
	MinBackoff, MaxBackoff time.Duration
	DialOptions            []grpc.DialOption
}

// Client keeps the current table in sync with the bridge.
type Client struct {
	opts    Options
	table   atomic.Pointer[Table]
	mu      sync.Mutex
	version uint64
	updated chan struct{}
	// versions of what the table holds, sent on reconnect; used by the Run goroutine only.
	versions map[string]string
}

// New creates a client; call Run to connect.
func New(opts Options) (*Client, error) {
	if opts.Address == "" {
		return nil, errors.New("client: Address is required")
	}
	if opts.Node == nil || opts.Node.GetId() == "" {
		return nil, errors.New("client: Node.id is required")
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = 100 * time.Millisecond
	}
	if opts.MaxBackoff < opts.MinBackoff {
		opts.MaxBackoff = 5 * time.Second
	}
	c := &Client{opts: opts, updated: make(chan struct{}), versions: map[string]string{}}
	empty := Table{}
	c.table.Store(&empty)
	return c, nil
}

// Table returns the current table (never nil; do not modify).
func (c *Client) Table() Table { return *c.table.Load() }

// Service returns one service or nil.
func (c *Client) Service(name string) *rpcpb.RpcService { return c.Table()[name] }

// Updated returns a channel closed at the next accepted update, and the number of updates so far.
func (c *Client) Updated() (<-chan struct{}, uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.updated, c.version
}

// Run connects and follows updates until ctx is done, reconnecting with backoff. The table survives
// reconnects (last known good).
func (c *Client) Run(ctx context.Context) error {
	dial := append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, c.opts.DialOptions...)
	conn, err := grpc.NewClient(c.opts.Address, dial...)
	if err != nil {
		return fmt.Errorf("client: dial %s: %w", c.opts.Address, err)
	}
	defer conn.Close()
	ads := discovery.NewAggregatedDiscoveryServiceClient(conn)
	backoff := c.opts.MinBackoff
	for {
		start := time.Now()
		err := c.stream(ctx, ads)
		if ctx.Err() != nil {
			return nil
		}
		if time.Since(start) > 10*time.Second {
			backoff = c.opts.MinBackoff
		}
		_ = err // the stream ends on any server or network failure; reconnect
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, c.opts.MaxBackoff)
	}
}

// stream runs one delta ADS stream.
func (c *Client) stream(ctx context.Context, ads discovery.AggregatedDiscoveryServiceClient) error {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	st, err := ads.DeltaAggregatedResources(sctx)
	if err != nil {
		return fmt.Errorf("open stream: %w", err)
	}
	// Tell the server what we already have so a reconnect only brings differences.
	known := maps.Clone(c.versions)
	if err := st.Send(&discovery.DeltaDiscoveryRequest{
		Node: c.opts.Node, TypeUrl: TypeURL, ResourceNamesSubscribe: []string{"*"}, InitialResourceVersions: known,
	}); err != nil {
		return fmt.Errorf("subscribe: %w", err)
	}
	for {
		resp, err := st.Recv()
		if err != nil {
			return fmt.Errorf("recv: %w", err)
		}
		if resp.GetTypeUrl() != TypeURL {
			continue
		}
		next, nackErr := c.apply(resp, c.versions)
		ack := &discovery.DeltaDiscoveryRequest{TypeUrl: TypeURL, ResponseNonce: resp.GetNonce()}
		if nackErr != nil {
			ack.ErrorDetail = &status.Status{Code: int32(codes.InvalidArgument), Message: nackErr.Error()}
		} else {
			c.commit(next)
		}
		if err := st.Send(ack); err != nil {
			return fmt.Errorf("ack: %w", err)
		}
	}
}

// apply builds the next table from a delta response without publishing it.
func (c *Client) apply(resp *discovery.DeltaDiscoveryResponse, versions map[string]string) (next Table, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("update handler panicked: %v\n%s", r, debug.Stack())
		}
	}()
	next = maps.Clone(c.Table())
	for _, r := range resp.GetResources() {
		svc := &rpcpb.RpcService{}
		if err := r.GetResource().UnmarshalTo(svc); err != nil {
			return nil, fmt.Errorf("resource %q: %w", r.GetName(), err)
		}
		if err := svc.ValidateAll(); err != nil {
			return nil, fmt.Errorf("resource %q: %w", r.GetName(), err)
		}
		next[r.GetName()] = svc
	}
	for _, name := range resp.GetRemovedResources() {
		delete(next, name)
	}
	if c.opts.OnUpdate != nil {
		if err := c.opts.OnUpdate(next); err != nil {
			return nil, err
		}
	}
	for _, r := range resp.GetResources() {
		versions[r.GetName()] = r.GetVersion()
	}
	for _, name := range resp.GetRemovedResources() {
		delete(versions, name)
	}
	return next, nil
}

func (c *Client) commit(next Table) {
	c.table.Store(&next)
	c.mu.Lock()
	c.version++
	close(c.updated)
	c.updated = make(chan struct{})
	c.mu.Unlock()
}

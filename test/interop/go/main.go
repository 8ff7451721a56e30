// Command probe is a grpc-go client for cancelkit, used by test/interop/go-grpc.test.ts.
//
// It is built at test time in a temporary GOPATH, next to stubs that protoc-gen-go and protoc-gen-go-grpc
// generate there from proto/ (see test/interop/go-probe.ts): this directory holds no generated code.
// It runs ONE scenario against -server HOST:PORT and prints ONE JSON line. An RPC that ends with a status is a
// result ({"code": "Canceled", "details": ...}, codes as grpc-go names them) and the exit status is 0; the exit
// status is 2 when the probe itself cannot run (bad arguments, no connection).
//
// With -linger, the probe keeps its connections open after printing, until its stdin closes.
//
// Scenarios:
//
//	find NAME IDEAL                    -> secret, hashed_name, hamming_distance
//	find-range NAME IDEAL INTERESTING  -> count, first five secrets, last secret and distance
//	cancel                             -> Find for a name that never matches under context.WithCancel; cancels
//	                                      after a line "go" on stdin; prints the code
//	cancel-loop N                      -> N trials on one connection, each after a line "start" on stdin: starts
//	                                      a Find for "~~~~" (never matches), prints {"trial":i,"started":true},
//	                                      cancels after a line "go", prints {"trial":i,"cancelAtMonotonicNanos":T,
//	                                      "resetAtMonotonicNanos":R,"code":...}, T being CLOCK_MONOTONIC just
//	                                      before cancel() (the clock Node's process.hrtime reads, shared by every
//	                                      process on the machine) and R just before the write that carried the
//	                                      call's RST_STREAM (0 if none within a second); after the last trial,
//	                                      exits once stdin ends
//	deadline MS                        -> Find that never matches under context.WithTimeout(MS)
//	invalid                            -> Find with an empty name: code and details
//	big-metadata BYTES                 -> a never-ending Find; after a line "go" on stdin, on the same connection,
//	                                      a Find("aa") carrying BYTES of metadata: its code and details (as
//	                                      big_code, big_details); then cancels the first, whose code is the result's
//	todo-flow                          -> the client flow of "gRPC Go for Professionals" (chapter 7) with
//	                                      -token: AddTask x3, ListTasks, UpdateTasks (client stream), DeleteTasks
//	                                      (bidi), and a ListTasks cancelled at the first overdue task or, when none
//	                                      is overdue, after its first message
//	todo-list-cancel N                 -> adds N tasks with long descriptions, reads ONE ListTasks message with
//	                                      HTTP/2 flow-control windows fixed at 64 KiB, then cancels: the server
//	                                      still has most of the listing to send when the cancel arrives
//	todo-load N IN_FLIGHT             -> the bench's load (bench/todo.bench.ts): 200 AddTask calls to warm up,
//	                                      then N with IN_FLIGHT at once, then one ListTasks of everything;
//	                                      prints addsPerSecond, tasksPerSecond and listed
//
// and the grpcurl- and grpc_health_probe-style scenarios of reflection.go, which use no generated stubs.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	hashpb "cancelkit.test/gen/hashname"
	todopb "cancelkit.test/gen/todo"
)

// never is a name no hash can match (NUL is not a base64 character): the search runs until it is stopped.
const never = "\x00\x00\x00\x00"

// safetyTimeout keeps a hung server from hanging the test run; the node test kills the probe before this.
const safetyTimeout = 120 * time.Second

// result is the scenario's JSON line.
type result map[string]interface{}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	os.Exit(2)
}

func elapsedMs(start time.Time) float64 {
	return float64(time.Since(start).Microseconds()) / 1000
}

// withStatus records how an RPC ended: "OK" for a nil error, otherwise grpc-go's code name and message.
func withStatus(r result, err error) result {
	if err == nil {
		r["code"] = codes.OK.String()
		return r
	}
	st := status.Convert(err)
	r["code"] = st.Code().String()
	r["details"] = st.Message()
	return r
}

func argInt(args []string, i int, what string) int {
	if i >= len(args) {
		fail("missing %s", what)
	}
	n, err := strconv.Atoi(args[i])
	if err != nil {
		fail("%s: %v", what, err)
	}
	return n
}

func argString(args []string, i int, what string) string {
	if i >= len(args) {
		fail("missing %s", what)
	}
	return args[i]
}

// ---- HashFinder ----

func runFind(c hashpb.HashFinderClient, args []string) result {
	req := &hashpb.HashNameRequest{
		DesiredName:          argString(args, 0, "NAME"),
		IdealHammingDistance: int32(argInt(args, 1, "IDEAL")),
	}
	ctx, cancel := context.WithTimeout(context.Background(), safetyTimeout)
	defer cancel()
	res, err := c.Find(ctx, req)
	r := withStatus(result{}, err)
	if err == nil {
		r["secret"] = res.GetSecret()
		r["hashed_name"] = res.GetHashedName()
		r["hamming_distance"] = res.GetHammingDistance()
	}
	return r
}

func runFindRange(c hashpb.HashFinderClient, args []string) result {
	req := &hashpb.HashNameRequest{
		DesiredName:                argString(args, 0, "NAME"),
		IdealHammingDistance:       int32(argInt(args, 1, "IDEAL")),
		InterestingHammingDistance: int32(argInt(args, 2, "INTERESTING")),
	}
	ctx, cancel := context.WithTimeout(context.Background(), safetyTimeout)
	defer cancel()
	secrets := []string{}
	var last *hashpb.HashNameResponse
	stream, err := c.FindRange(ctx, req)
	for err == nil {
		var res *hashpb.HashNameResponse
		res, err = stream.Recv()
		if err == nil {
			secrets = append(secrets, res.GetSecret())
			last = res
		}
	}
	if errors.Is(err, io.EOF) {
		err = nil
	}
	r := withStatus(result{}, err)
	firstFive := secrets
	if len(firstFive) > 5 {
		firstFive = firstFive[:5]
	}
	r["count"] = len(secrets)
	r["first_five"] = firstFive
	r["last"] = nil
	if last != nil {
		r["last"] = result{"secret": last.GetSecret(), "hamming_distance": last.GetHammingDistance()}
	}
	return r
}

// runCancel starts a never-ending Find, waits for "go" on stdin, then cancels its context.
func runCancel(c hashpb.HashFinderClient, _ []string) result {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type outcome struct {
		err error
		at  time.Time
	}
	done := make(chan outcome, 1)
	go func() {
		_, err := c.Find(ctx, &hashpb.HashNameRequest{DesiredName: never})
		done <- outcome{err, time.Now()}
	}()
	line, _ := readLine(os.Stdin)
	if line != "go" {
		fail("expected a line 'go' on stdin, got %q", line)
	}
	finishedBefore := false
	select {
	case <-done:
		finishedBefore = true
	default:
	}
	start := time.Now()
	cancel()
	var out outcome
	if finishedBefore {
		out = outcome{errors.New("the call ended before the cancel"), start}
	} else {
		out = <-done
	}
	r := withStatus(result{}, out.err)
	r["ended_before_cancel"] = finishedBefore
	r["ms"] = float64(out.at.Sub(start).Microseconds()) / 1000
	return r
}

// runCancelLoop is the bench's client (bench/search.bench.ts, cancel-go): a cancel from a separate process, the
// time of each cancel() on the wall clock that the server reads too. Its own lines come before the final one.
// grpc-go returns Canceled at once, before the server has stopped: "start" lets the bench begin the next trial
// only once the last search is over, so that two never overlap.
func runCancelLoop(c hashpb.HashFinderClient, args []string, resets <-chan int64) result {
	n := argInt(args, 0, "N")
	printLine := func(r result) {
		out, err := json.Marshal(r)
		if err != nil {
			fail("json: %v", err)
		}
		fmt.Println(string(out))
	}
	expect := func(i int, want string) {
		if line, _ := readLine(os.Stdin); line != want {
			fail("trial %d: expected a line %q on stdin, got %q", i, want, line)
		}
	}
	for i := 0; i < n; i++ {
		expect(i, "start")
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			// '~' is not a base64 character: the search runs until it is cancelled.
			_, err := c.Find(ctx, &hashpb.HashNameRequest{DesiredName: "~~~~", IdealHammingDistance: 0})
			done <- err
		}()
		printLine(result{"trial": i, "started": true})
		expect(i, "go")
		at := monotonicNanos()
		cancel()
		r := withStatus(result{"trial": i, "cancelAtMonotonicNanos": at}, <-done)
		// The reset goes out after the call has returned; an earlier one (a late reset of the trial before) is not it.
		resetAt := nextReset(resets, time.Second)
		for resetAt != 0 && resetAt < at {
			resetAt = nextReset(resets, time.Second)
		}
		r["resetAtMonotonicNanos"] = resetAt
		printLine(r)
	}
	// grpc-go returns from a cancelled call before its RST_STREAM is written. Closing the connection now (main's
	// deferred Close) would race the last trial's cancel, which the server would then see as a disconnect, later:
	// the connection stays until the caller, done with its timings, closes stdin.
	_, _ = io.Copy(io.Discard, os.Stdin)
	return result{"trials": n}
}

// monotonicNanos reads CLOCK_MONOTONIC. time.Now() carries a monotonic reading too, but only relative to this
// process's start; the server compares against its own reading of the same kernel clock.
func monotonicNanos() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		fail("clock_gettime: %v", err)
	}
	return ts.Nano()
}

func readLine(f *os.File) (string, error) {
	var b strings.Builder
	buf := make([]byte, 1)
	for {
		n, err := f.Read(buf)
		if n == 1 {
			if buf[0] == '\n' {
				return strings.TrimSpace(b.String()), nil
			}
			b.WriteByte(buf[0])
		}
		if err != nil {
			return strings.TrimSpace(b.String()), err
		}
	}
}

func runDeadline(c hashpb.HashFinderClient, args []string) result {
	ms := argInt(args, 0, "MS")
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(ms)*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Find(ctx, &hashpb.HashNameRequest{DesiredName: never})
	r := withStatus(result{}, err)
	r["ms"] = elapsedMs(start)
	return r
}

func runInvalid(c hashpb.HashFinderClient, _ []string) result {
	ctx, cancel := context.WithTimeout(context.Background(), safetyTimeout)
	defer cancel()
	_, err := c.Find(ctx, &hashpb.HashNameRequest{DesiredName: ""})
	return withStatus(result{}, err)
}

// runBigMetadata checks that a call whose metadata is too large fails alone: the first call shares its connection.
func runBigMetadata(c hashpb.HashFinderClient, args []string) result {
	size := argInt(args, 0, "BYTES")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := c.Find(ctx, &hashpb.HashNameRequest{DesiredName: never})
		done <- err
	}()
	line, _ := readLine(os.Stdin)
	if line != "go" {
		fail("expected a line 'go' on stdin, got %q", line)
	}
	bigCtx, bigCancel := context.WithTimeout(metadata.AppendToOutgoingContext(context.Background(), "x-big",
		strings.Repeat("a", size)), safetyTimeout)
	defer bigCancel()
	_, bigErr := c.Find(bigCtx, &hashpb.HashNameRequest{DesiredName: "aa"})
	big := withStatus(result{}, bigErr)
	cancel()
	r := withStatus(result{}, <-done)
	r["big_code"] = big["code"]
	r["big_details"] = big["details"]
	return r
}

// ---- TodoService ----

// bearer adds "authorization: Bearer <token>" to every call, as the book's client adds its token: through client
// interceptors, so that the generated stubs are used unchanged.
func bearer(token string) []grpc.DialOption {
	withToken := func(ctx context.Context) context.Context {
		return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
	}
	unary := func(ctx context.Context, method string, req, reply interface{}, cc *grpc.ClientConn,
		invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		return invoker(withToken(ctx), method, req, reply, cc, opts...)
	}
	stream := func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string,
		streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		return streamer(withToken(ctx), desc, cc, method, opts...)
	}
	return []grpc.DialOption{grpc.WithChainUnaryInterceptor(unary), grpc.WithChainStreamInterceptor(stream)}
}

func taskJSON(res *todopb.ListTasksResponse) result {
	t := res.GetTask()
	task := result{"id": t.GetId(), "description": t.GetDescription(), "done": t.GetDone(),
		"overdue": res.GetOverdue(), "due_unix": nil}
	if t.GetDueDate() != nil {
		task["due_unix"] = t.GetDueDate().GetSeconds()
	}
	return task
}

// withDone sets the request's done field through reflection: the field is `bool` in the book's proto and
// `optional bool` (a *bool in Go) in cancelkit's, and the probe builds against either.
func withDone(req *todopb.UpdateTasksRequest, done bool) *todopb.UpdateTasksRequest {
	m := req.ProtoReflect()
	m.Set(m.Descriptor().Fields().ByName("done"), protoreflect.ValueOfBool(done))
	return req
}

// listTasks reads a whole ListTasks stream, or returns the status it failed with.
func listTasks(ctx context.Context, c todopb.TodoServiceClient, mask *fieldmaskpb.FieldMask) ([]result, error) {
	tasks := []result{}
	stream, err := c.ListTasks(ctx, &todopb.ListTasksRequest{Mask: mask})
	if err != nil {
		return tasks, err
	}
	for {
		res, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return tasks, nil
		}
		if err != nil {
			return tasks, err
		}
		tasks = append(tasks, taskJSON(res))
	}
}

// listThenCancel is the book's printTasks with cancellation: it cancels at the first overdue task, or (when
// nothing is overdue) after the first message, then reads on until grpc-go reports how the stream ended.
func listThenCancel(c todopb.TodoServiceClient) result {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := result{}
	stream, err := c.ListTasks(ctx, &todopb.ListTasksRequest{})
	received := 0
	for err == nil {
		var res *todopb.ListTasksResponse
		res, err = stream.Recv()
		if err != nil {
			break
		}
		received++
		if _, done := r["cancelled_at"]; !done {
			r["cancelled_at"] = "first message"
			if res.GetOverdue() {
				r["cancelled_at"] = "overdue task"
			}
			r["received_before_cancel"] = received
			cancel()
		}
	}
	if errors.Is(err, io.EOF) {
		err = nil
	}
	r["received"] = received
	return withStatus(r, err)
}

// step runs one part of the flow and records its status under name; false when it did not end OK.
func step(flow result, name string, r result, err error) bool {
	flow[name] = withStatus(r, err)
	return err == nil
}

func runTodoFlow(conn *grpc.ClientConn, bare *grpc.ClientConn, _ []string) result {
	c := todopb.NewTodoServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), safetyTimeout)
	defer cancel()
	flow := result{}

	// Without the token: refused before anything is written.
	_, err := todopb.NewTodoServiceClient(bare).AddTask(ctx, &todopb.AddTaskRequest{Description: "no token",
		DueDate: timestamppb.New(time.Now().Add(time.Hour))})
	step(flow, "no_token", result{}, err)

	// The book adds three tasks due a few seconds later; an hour keeps them from turning overdue on a slow run.
	dueDate := time.Now().Add(time.Hour).Truncate(time.Second)
	ids := []uint64{}
	for _, description := range []string{"This is a task", "This is another task", "And yet another task"} {
		res, err := c.AddTask(ctx, &todopb.AddTaskRequest{Description: description, DueDate: timestamppb.New(dueDate)})
		if !step(flow, "add", result{"ids": ids}, err) {
			return flow
		}
		ids = append(ids, res.GetId())
	}
	flow["add"] = withStatus(result{"ids": ids, "due_unix": dueDate.Unix()}, nil)

	tasks, err := listTasks(ctx, c, nil)
	if !step(flow, "list", result{"tasks": tasks}, err) {
		return flow
	}
	masked, err := listTasks(ctx, c, &fieldmaskpb.FieldMask{Paths: []string{"id"}})
	if !step(flow, "list_mask_id", result{"tasks": masked}, err) {
		return flow
	}

	// UpdateTasks, client streaming: the book's three updates, applied together when the stream closes.
	updates := []*todopb.UpdateTasksRequest{
		{Id: ids[0], Description: "A better name for the task"},
		{Id: ids[1], DueDate: timestamppb.New(dueDate.Add(5 * time.Hour))},
		withDone(&todopb.UpdateTasksRequest{Id: ids[2]}, true),
	}
	up, err := c.UpdateTasks(ctx)
	for i := 0; err == nil && i < len(updates); i++ {
		err = up.Send(updates[i])
	}
	if err == nil {
		_, err = up.CloseAndRecv()
	}
	if !step(flow, "update", result{}, err) {
		return flow
	}
	tasks, err = listTasks(ctx, c, nil)
	if !step(flow, "list_after_update", result{"tasks": tasks}, err) {
		return flow
	}

	flow["list_cancelled"] = listThenCancel(c)

	// DeleteTasks, bidi: each acknowledgement arrives once that delete is durable.
	del, err := c.DeleteTasks(ctx)
	acks := 0
	if err == nil {
		received := make(chan error, 1)
		go func() {
			for {
				if _, err := del.Recv(); err != nil {
					received <- err
					return
				}
				acks++
			}
		}()
		for i := 0; err == nil && i < len(ids); i++ {
			err = del.Send(&todopb.DeleteTasksRequest{Id: ids[i]})
		}
		if err == nil {
			err = del.CloseSend()
		}
		if recvErr := <-received; !errors.Is(recvErr, io.EOF) {
			err = recvErr
		}
	}
	if !step(flow, "delete", result{"acks": acks}, err) {
		return flow
	}
	tasks, err = listTasks(ctx, c, nil)
	step(flow, "list_after_delete", result{"tasks": tasks}, err)
	return flow
}

// runTodoListCancel adds N tasks, then reads one ListTasks message and cancels. The windows are fixed at 64 KiB
// (which also turns off grpc-go's BDP-driven window growth), so the server cannot have sent the whole listing
// before the cancel: it must notice the cancel while it still has tasks to send.
func runTodoListCancel(conn *grpc.ClientConn, _ *grpc.ClientConn, args []string) result {
	n := argInt(args, 0, "N")
	c := todopb.NewTodoServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), safetyTimeout)
	defer cancel()
	description := strings.Repeat("x", 900)
	due := timestamppb.New(time.Now().Add(time.Hour))
	var mu sync.Mutex
	var addErr error
	var wg sync.WaitGroup
	next := make(chan int)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range next {
				_, err := c.AddTask(ctx, &todopb.AddTaskRequest{Description: description, DueDate: due})
				if err != nil {
					mu.Lock()
					addErr = err
					mu.Unlock()
				}
			}
		}()
	}
	start := time.Now()
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	r := result{"added": n, "add_ms": elapsedMs(start)}
	if addErr != nil {
		return withStatus(r, addErr)
	}
	for k, v := range listThenCancel(c) {
		r[k] = v
	}
	return r
}

// ---- main ----

// runTodoLoad is the bench's grpc-go load generator: the server's throughput as a native client sees it.
func runTodoLoad(conn *grpc.ClientConn, _ *grpc.ClientConn, args []string) result {
	n, inFlight := argInt(args, 0, "N"), argInt(args, 1, "IN_FLIGHT")
	c := todopb.NewTodoServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), safetyTimeout)
	defer cancel()
	req := &todopb.AddTaskRequest{Description: "a task with a typical short description",
		DueDate: &timestamppb.Timestamp{Seconds: 4_102_444_800, Nanos: 123_456_789}}
	for i := 0; i < 200; i++ {
		if _, err := c.AddTask(ctx, req); err != nil {
			return withStatus(result{"phase": "warm-up"}, err)
		}
	}
	var next int64
	var mu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	start := time.Now()
	for g := 0; g < inFlight; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				if next >= int64(n) || firstErr != nil {
					mu.Unlock()
					return
				}
				next++
				mu.Unlock()
				if _, err := c.AddTask(ctx, req); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	addSeconds := time.Since(start).Seconds()
	if firstErr != nil {
		return withStatus(result{"phase": "adds"}, firstErr)
	}
	start = time.Now()
	stream, err := c.ListTasks(ctx, &todopb.ListTasksRequest{})
	if err != nil {
		return withStatus(result{"phase": "list"}, err)
	}
	listed := 0
	for {
		_, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return withStatus(result{"phase": "list", "listed": listed}, err)
		}
		listed++
	}
	listSeconds := time.Since(start).Seconds()
	return result{"addsPerSecond": float64(n) / addSeconds, "tasksPerSecond": float64(listed) / listSeconds,
		"listed": listed}
}

func dial(server string, extra ...grpc.DialOption) *grpc.ClientConn {
	// Connect first, so that a deadline or a cancel measures the call, not the TCP/HTTP2 handshake.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	opts := append([]grpc.DialOption{grpc.WithInsecure(), grpc.WithBlock()}, extra...)
	conn, err := grpc.DialContext(ctx, server, opts...)
	if err != nil {
		fail("could not connect to %s: %v", server, err)
	}
	return conn
}

func main() {
	server := flag.String("server", "", "HOST:PORT of a cancelkit server (h2c)")
	token := flag.String("token", "", "bearer token for TodoService")
	linger := flag.Bool("linger", false, "after printing the result, keep the connection open until stdin closes")
	flag.Parse()
	args := flag.Args()
	if *server == "" || len(args) == 0 {
		fail("usage: probe -server HOST:PORT [-token T] SCENARIO [ARGS]")
	}
	scenario, rest := args[0], args[1:]

	// cancel-loop's connection tells when each RST_STREAM leaves the client.
	resetDialer, resets := newResetWatch()
	hashScenarios := map[string]func(hashpb.HashFinderClient, []string) result{
		"find": runFind, "find-range": runFindRange, "cancel": runCancel,
		"cancel-loop": func(c hashpb.HashFinderClient, args []string) result { return runCancelLoop(c, args, resets) },
		"deadline": runDeadline, "invalid": runInvalid, "big-metadata": runBigMetadata,
	}
	todoScenarios := map[string]func(*grpc.ClientConn, *grpc.ClientConn, []string) result{
		"todo-flow": runTodoFlow, "todo-list-cancel": runTodoListCancel, "todo-load": runTodoLoad,
	}
	stublessScenarios := map[string]func(*grpc.ClientConn, []string) result{
		"reflect-list": runReflectList, "reflect-call": runReflectCall, "health": runHealth,
	}
	var r result
	if run, ok := hashScenarios[scenario]; ok {
		var opts []grpc.DialOption
		if scenario == "cancel-loop" {
			opts = append(opts, grpc.WithContextDialer(resetDialer))
		}
		conn := dial(*server, opts...)
		defer conn.Close()
		r = run(hashpb.NewHashFinderClient(conn), rest)
	} else if run, ok := todoScenarios[scenario]; ok {
		if *token == "" {
			fail("%s needs -token", scenario)
		}
		opts := bearer(*token)
		if scenario == "todo-list-cancel" {
			opts = append(opts, grpc.WithInitialWindowSize(1<<16), grpc.WithInitialConnWindowSize(1<<16))
		}
		conn := dial(*server, opts...)
		defer conn.Close()
		bare := dial(*server)
		defer bare.Close()
		r = run(conn, bare, rest)
	} else if run, ok := stublessScenarios[scenario]; ok {
		var opts []grpc.DialOption
		if *token != "" {
			opts = bearer(*token)
		}
		conn := dial(*server, opts...)
		defer conn.Close()
		r = run(conn, rest)
	} else {
		fail("unknown scenario %q", scenario)
	}
	r["scenario"] = scenario
	r["grpc_go"] = grpc.Version
	r["go"] = runtime.Version()
	out, err := json.Marshal(r)
	if err != nil {
		fail("json: %v", err)
	}
	fmt.Println(string(out))
	if *linger {
		// A client that cancels and exits at once also closes its connection: the server may then see a
		// disconnect before it has handled the cancel. Lingering keeps the two apart until the test has looked.
		_, _ = io.Copy(io.Discard, os.Stdin)
	}
}

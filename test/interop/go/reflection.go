// The grpcurl-style scenarios: here the probe compiles in nothing of cancelkit's protos. Like grpcurl, it asks the
// server's reflection service for the descriptors (v1alpha: grpc-go 1.33 has no v1 client; recent grpcurl asks v1
// first and falls back to v1alpha), builds the request from JSON and prints each response as JSON; and it checks
// health as grpc_health_probe does.
//
//	reflect-list                        -> services: the names reflection lists
//	reflect-call METHOD JSON [N]        -> responses: each response as proto3 JSON (defaults included); a server
//	                                       stream is cancelled after its Nth response when N > 0 (grpcurl's
//	                                       Ctrl-C)
//	health [SERVICE]                    -> status: grpc.health.v1 Check's answer for SERVICE ("" = the server)
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	rpb "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
)

// reflector asks one ServerReflectionInfo stream question after question, as grpcurl does.
type reflector struct {
	stream rpb.ServerReflection_ServerReflectionInfoClient
}

func newReflector(ctx context.Context, conn *grpc.ClientConn) (*reflector, error) {
	stream, err := rpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
	if err != nil {
		return nil, err
	}
	return &reflector{stream}, nil
}

func (r *reflector) ask(req *rpb.ServerReflectionRequest) (*rpb.ServerReflectionResponse, error) {
	if err := r.stream.Send(req); err != nil {
		return nil, err
	}
	res, err := r.stream.Recv()
	if err != nil {
		return nil, err
	}
	if e := res.GetErrorResponse(); e != nil {
		return nil, status.Error(codes.Code(e.GetErrorCode()), e.GetErrorMessage())
	}
	return res, nil
}

// close half-closes the stream and waits for the server to end it, as a polite client does when it has its
// answers: "OK" for a clean end, otherwise the code.
func (r *reflector) close() string {
	err := r.stream.CloseSend()
	if err == nil {
		_, err = r.stream.Recv()
	}
	if errors.Is(err, io.EOF) {
		return codes.OK.String()
	}
	if err == nil {
		return "a response after the half-close"
	}
	return status.Code(err).String()
}

func (r *reflector) services() ([]string, error) {
	res, err := r.ask(&rpb.ServerReflectionRequest{
		MessageRequest: &rpb.ServerReflectionRequest_ListServices{ListServices: "*"},
	})
	if err != nil {
		return nil, err
	}
	names := []string{}
	for _, s := range res.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	return names, nil
}

// method resolves "package.Service/Method" from the file that defines the service and every file it imports,
// fetched by name until none is missing.
func (r *reflector) method(fullName string) (protoreflect.MethodDescriptor, error) {
	slash := strings.LastIndex(fullName, "/")
	if slash < 0 {
		return nil, fmt.Errorf("method %q is not package.Service/Method", fullName)
	}
	service, name := fullName[:slash], fullName[slash+1:]
	files := map[string]*descriptorpb.FileDescriptorProto{}
	var order []*descriptorpb.FileDescriptorProto
	add := func(res *rpb.ServerReflectionResponse) error {
		for _, raw := range res.GetFileDescriptorResponse().GetFileDescriptorProto() {
			fd := &descriptorpb.FileDescriptorProto{}
			if err := proto.Unmarshal(raw, fd); err != nil {
				return err
			}
			if files[fd.GetName()] == nil {
				files[fd.GetName()] = fd
				order = append(order, fd)
			}
		}
		return nil
	}
	res, err := r.ask(&rpb.ServerReflectionRequest{
		MessageRequest: &rpb.ServerReflectionRequest_FileContainingSymbol{FileContainingSymbol: service},
	})
	if err == nil {
		err = add(res)
	}
	for i := 0; err == nil && i < len(order); i++ {
		for _, dep := range order[i].GetDependency() {
			if files[dep] != nil {
				continue
			}
			res, err = r.ask(&rpb.ServerReflectionRequest{
				MessageRequest: &rpb.ServerReflectionRequest_FileByFilename{FileByFilename: dep},
			})
			if err == nil {
				err = add(res)
			}
		}
	}
	if err != nil {
		return nil, err
	}
	registry, err := protodesc.NewFiles(&descriptorpb.FileDescriptorSet{File: order})
	if err != nil {
		return nil, err
	}
	d, err := registry.FindDescriptorByName(protoreflect.FullName(service))
	if err != nil {
		return nil, err
	}
	sd, ok := d.(protoreflect.ServiceDescriptor)
	if !ok {
		return nil, fmt.Errorf("%s is not a service", service)
	}
	md := sd.Methods().ByName(protoreflect.Name(name))
	if md == nil {
		return nil, fmt.Errorf("service %s has no method %s", service, name)
	}
	return md, nil
}

func runReflectList(conn *grpc.ClientConn, _ []string) result {
	ctx, cancel := context.WithTimeout(context.Background(), safetyTimeout)
	defer cancel()
	r, err := newReflector(ctx, conn)
	if err != nil {
		return withStatus(result{}, err)
	}
	names, err := r.services()
	return withStatus(result{"services": names, "reflection_end": r.close()}, err)
}

// runReflectCall is `grpcurl -d JSON HOST:PORT METHOD`, unary or server-streaming.
func runReflectCall(conn *grpc.ClientConn, args []string) result {
	method, body := argString(args, 0, "METHOD"), argString(args, 1, "JSON")
	cancelAfter := 0
	if len(args) > 2 {
		cancelAfter = argInt(args, 2, "N")
	}
	ctx, cancel := context.WithTimeout(context.Background(), safetyTimeout)
	defer cancel()
	r, err := newReflector(ctx, conn)
	if err != nil {
		return withStatus(result{}, err)
	}
	md, err := r.method(method)
	end := r.close()
	if err != nil {
		return withStatus(result{"resolved": false, "reflection_end": end}, err)
	}
	if md.IsStreamingClient() {
		fail("reflect-call sends one request: %s takes a client stream", method)
	}
	req := dynamicpb.NewMessage(md.Input())
	if err := protojson.Unmarshal([]byte(body), req); err != nil {
		fail("JSON for %s: %v", md.Input().FullName(), err)
	}
	responses := []json.RawMessage{}
	keep := func(m proto.Message) {
		text, err := protojson.MarshalOptions{EmitUnpopulated: true}.Marshal(m)
		if err != nil {
			fail("response as JSON: %v", err)
		}
		responses = append(responses, text)
	}
	callCtx, cancelCall := context.WithCancel(ctx)
	defer cancelCall()
	if !md.IsStreamingServer() {
		res := dynamicpb.NewMessage(md.Output())
		err = conn.Invoke(callCtx, "/"+method, req, res)
		if err == nil {
			keep(res)
		}
	} else {
		var stream grpc.ClientStream
		stream, err = conn.NewStream(callCtx, &grpc.StreamDesc{ServerStreams: true}, "/"+method)
		if err == nil {
			err = stream.SendMsg(req)
		}
		if err == nil {
			err = stream.CloseSend()
		}
		for err == nil {
			res := dynamicpb.NewMessage(md.Output())
			if err = stream.RecvMsg(res); err == nil {
				keep(res)
				if len(responses) == cancelAfter {
					cancelCall()
				}
			}
		}
		if errors.Is(err, io.EOF) {
			err = nil
		}
	}
	return withStatus(result{"resolved": true, "reflection_end": end, "responses": responses}, err)
}

// runHealth is `grpc_health_probe -addr HOST:PORT [-service SERVICE]`.
func runHealth(conn *grpc.ClientConn, args []string) result {
	service := ""
	if len(args) > 0 {
		service = args[0]
	}
	ctx, cancel := context.WithTimeout(context.Background(), safetyTimeout)
	defer cancel()
	res, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: service})
	r := withStatus(result{}, err)
	if err == nil {
		r["status"] = res.GetStatus().String()
	}
	return r
}

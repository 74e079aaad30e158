#!/usr/bin/perl
# openapi_valid.pl FILE - checks an OpenAPI 3.0 document against the OpenAPI 3.0
# schema that JSON::Validator ships (its cache: no network), then that every $ref
# resolves. Prints each problem and exits 1; prints "FILE: valid" and exits 0.
use strict;
use warnings;
use JSON::Validator::Schema::OpenAPIv3;
use YAML::XS ();

my $file = shift or die "usage: openapi_valid.pl FILE\n";
local $YAML::XS::Boolean = 'JSON::PP';
my $data = eval { YAML::XS::LoadFile($file) };
if (!defined $data) {
	print "$file: not YAML: $@";
	exit 1;
}
if (ref $data ne 'HASH' || ($data->{openapi} // '') !~ /^3\.0\.\d+$/) {
	print "$file: not an OpenAPI 3.0.x document\n";
	exit 1;
}
my @errors;
eval {
	my $schema = JSON::Validator::Schema::OpenAPIv3->new($data);
	@errors = @{$schema->errors};
	$schema->resolve if !@errors;
	1;
} or push @errors, "cannot check it: $@";
if (@errors) {
	print "$file: $_\n" for @errors;
	exit 1;
}
print "$file: valid\n";
exit 0;

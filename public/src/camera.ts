/** The camera page: connects to its assembly; the page itself is built in a later issue. */
import { connect } from './lib/connect.js';

connect();
